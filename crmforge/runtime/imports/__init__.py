"""Data import: CSV and XLSX files into records, through the record service, as a durable
job (decision 0022). ``service`` is the entry point (submit, preview, status, error file,
undo); ``run`` is the job; ``reading``, ``mapping`` and ``cells`` read the file, map its
columns and turn its cells into values."""
