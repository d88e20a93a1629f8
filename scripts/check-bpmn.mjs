// Reads BPMN files with bpmn-moddle (the model bpmn-js and Camunda Modeler are built on)
// and prints, as JSON, each file's warnings: unknown elements or attributes, unresolved
// references, duplicate ids. The tests use it to check that exported files are clean.
import { readFileSync } from 'node:fs';
import { BpmnModdle } from 'bpmn-moddle';

const moddle = new BpmnModdle();
const out = {};
for (const file of process.argv.slice(2)) {
  try {
    const { warnings } = await moddle.fromXML(readFileSync(file, 'utf8'));
    out[file] = warnings.map((w) => w.message);
  } catch (err) {
    out[file] = [`not readable: ${err.message}`];
  }
}
process.stdout.write(JSON.stringify(out));
