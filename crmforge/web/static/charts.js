// Draws the dashboard's charts with ECharts from the JSON the server embedded
// (#chart-data). Labels are handed to ECharts as data; ECharts draws them as text (SVG
// text, and tooltips rendered as rich text rather than HTML), so a label holding markup
// stays text. The tables under the charts carry the same numbers without JavaScript.
(function () {
  "use strict";
  function options(chart) {
    const names = chart.rows.map(function (r) { return r.name; });
    const values = chart.rows.map(function (r) { return r.value; });
    const base = {
      aria: { enabled: true },
      tooltip: { trigger: "item", renderMode: "richText" },
      animation: false
    };
    if (chart.type === "pie" || chart.type === "funnel") {
      const data = chart.rows.map(function (r) { return { name: r.name, value: r.value }; });
      return Object.assign(base, {
        legend: { type: "scroll", bottom: 0 },
        series: [{ type: chart.type, data: data, sort: "descending",
                   label: { show: true, formatter: "{b}: {c}" } }]
      });
    }
    return Object.assign(base, {
      grid: { containLabel: true, left: 8, right: 8, top: 16, bottom: 8 },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0,
                                                      width: 120, overflow: "truncate" } },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: values }]
    });
  }
  function draw() {
    const source = document.getElementById("chart-data");
    if (!source || typeof echarts === "undefined") { return; }
    JSON.parse(source.textContent).forEach(function (chart) {
      const box = document.getElementById(chart.id);
      if (!box || chart.type === "progress") { return; }
      const instance = echarts.init(box, null, { renderer: "svg" });
      instance.setOption(options(chart));
      window.addEventListener("resize", function () { instance.resize(); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
