// 毕业生信息 (GRAD-1): the import progress bar polls the job's JSON progress; delete buttons ask first.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  var box = document.getElementById("import-job");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  function set(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function show(p) {
    document.getElementById("job-bar").style.width = p.percent + "%";
    document.getElementById("job-progress").setAttribute("aria-valuenow", p.percent);
    set("job-status", p.status_name);
    set("job-rows", "已处理 " + p.processed_rows + " / " + p.total_rows + " 行");
    set("n-created", p.created + p.revived);
    set("n-updated", p.updated);
    set("n-unchanged", p.unchanged);
    set("n-errors", p.errors);
    var report = document.getElementById("error-report");
    if (report && p.errors > 0) { report.hidden = false; }
    if (p.finished && p.message && !document.getElementById("job-message")) {
      var div = document.createElement("div");
      div.className = "error"; div.id = "job-message"; div.textContent = p.message;
      box.insertBefore(div, document.getElementById("job-counts").nextSibling);
    }
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (p) { show(p); if (!p.finished && !p.stale) { window.setTimeout(poll, 1000); } })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  poll();
})();
