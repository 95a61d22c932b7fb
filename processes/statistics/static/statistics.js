/* PRV-2 charts: stacked bars of the table's rows and, for the destination module, a pie of the destination
   types. Data comes from the data-chart / data-names attributes of #chart-bars (no inline script). */
(function () {
  "use strict";
  var bars = document.getElementById("chart-bars");
  if (!bars || typeof echarts === "undefined") { return; }
  var data = JSON.parse(bars.getAttribute("data-chart"));
  var names = JSON.parse(bars.getAttribute("data-names"));
  var narrow = window.matchMedia("(max-width: 600px)").matches;
  var charts = [];

  function series(key, color) {
    return { name: names[key], type: "bar", stack: "all", data: data.series[key], itemStyle: { color: color },
             emphasis: { focus: "series" } };
  }

  var barChart = echarts.init(bars, null, { renderer: "canvas" });
  barChart.setOption({
    animation: false,
    title: { text: names.bars, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { bottom: 0 },
    grid: { left: narrow ? 70 : 120, right: 20, top: 40, bottom: 40 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: data.labels, inverse: true,
             axisLabel: { width: narrow ? 60 : 110, overflow: "truncate" } },
    series: [series("registered", "#2e7d32"), series("reviewing", "#f9a825"), series("waiting", "#9e9e9e")]
  });
  charts.push(barChart);

  var pie = document.getElementById("chart-types");
  if (pie) {
    var pieChart = echarts.init(pie, null, { renderer: "canvas" });
    pieChart.setOption({
      animation: false,
      title: { text: names.types, left: "center", textStyle: { fontSize: 14 } },
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      series: [{ type: "pie", radius: narrow ? ["25%", "55%"] : ["30%", "65%"], data: data.types,
                 label: { formatter: "{b}\n{c}" } }]
    });
    charts.push(pieChart);
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.documentElement.setAttribute("data-charts-ready", String(charts.length));
})();
