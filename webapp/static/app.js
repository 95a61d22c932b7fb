/* Behaviour for every page, driven by data attributes (no inline script: the pages run under a CSP
   without 'unsafe-inline').
   data-confirm="…"        on a form (submit) or a button (click): ask before going on
   data-select-on-click    on an input: select its text when clicked (a link to copy)
   data-navigate-param="p" on a select: reload the page with ?p=<value> when it changes
   data-division-picker    the 省/市/区 pickers over a 6-digit division-code field:
                           data-url (children JSON), data-code (the code input's id),
                           data-type (a select that may lock the province), data-origin (JSON), and
                           data-back or an element [data-division-back]: the type value that locks it */
(function () {
  "use strict";

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) { e.preventDefault(); }
  }, true);
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-confirm]") : null;
    if (el && el.tagName !== "FORM" && !window.confirm(el.dataset.confirm)) { e.preventDefault(); }
    var sel = e.target.closest ? e.target.closest("[data-select-on-click]") : null;
    if (sel && sel.select) { sel.select(); }
  }, true);
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.dataset && el.dataset.navigateParam) {
      var params = new URLSearchParams(window.location.search);
      params.set(el.dataset.navigateParam, el.value);
      window.location.search = params.toString();
    }
  });

  function fill(select, items, chosen) {
    select.textContent = "";
    var blank = document.createElement("option");
    blank.value = ""; blank.textContent = select.dataset.blank || "请选择";
    select.appendChild(blank);
    (items || []).forEach(function (it) {
      var o = document.createElement("option");
      o.value = it.code; o.textContent = it.name;
      if (it.code === chosen) { o.selected = true; }
      select.appendChild(o);
    });
    select.hidden = !items || items.length === 0;
  }

  function picker(box) {
    var code = document.getElementById(box.dataset.code);
    var levels = box.querySelectorAll("select");
    var origin = JSON.parse(box.dataset.origin || "null");
    var type = box.dataset.type ? document.getElementById(box.dataset.type) : null;
    var note = document.getElementById(box.dataset.code + "-origin-note");
    function change(level) {
      var value = levels[level].value;
      for (var i = level + 1; i < levels.length; i++) { fill(levels[i], []); }
      if (!value) { return; }
      code.value = value;
      if (level + 1 >= levels.length) { return; }
      fetch(box.dataset.url + "?parent=" + encodeURIComponent(value), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) { fill(levels[level + 1], data.items || []); });
    }
    levels.forEach(function (select, i) { select.addEventListener("change", function () { change(i); }); });
    if (type && origin) {
      type.addEventListener("change", function () {
        var marker = document.querySelector("[data-division-back]");
        var back = box.dataset.back || (marker ? marker.dataset.divisionBack : "");
        var locked = type.value === back;
        if (locked) {  // ARC-3: pre-fill from the 生源所在地
          for (var i = 0; i < levels.length; i++) { fill(levels[i], origin.levels[i] || [], origin.codes[i]); }
          code.value = origin.code;
        }
        levels[0].disabled = locked;
        if (note) { note.hidden = !locked; }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-division-picker]").forEach(picker);
  });
})();
