// A BPMN diagram drawn in the browser by bpmn-js (/vendor/bpmn-viewer.js, loaded before this file), optionally
// with marks: every <div class="bpmn-diagram" data-xml-url="…"> on the page is drawn; with data-marks-url the
// JSON there marks elements (CSS class gf-<state>) and puts counts on them:
//   {"elements": {"<bpmn id>": {"state": "active", "completed": 2, "active": 1, "waiting": 0, ...}},
//    "links": {"<bpmn id>": "<url>"}}      (a click on a linked element, e.g. a call activity, follows it)
// data-labels (JSON: {"completed": "已完成", ...}) names the counts in tooltips; data-error is shown when the
// diagram cannot be drawn. No inline script: the page's CSP is script-src 'self'.
(function () {
  'use strict';

  var ORDER = ['error', 'active', 'waiting', 'completed', 'cancelled'];
  var SIGNS = { completed: '✓', active: '●', waiting: '⏱', cancelled: '✕', error: '!' };

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (resp) { if (!resp.ok) { throw new Error(resp.status); } return resp.json(); });
  }

  function getText(url) {
    return fetch(url, { credentials: 'same-origin' })
      .then(function (resp) { if (!resp.ok) { throw new Error(resp.status); } return resp.text(); });
  }

  function badges(mark, labels) {
    var box = document.createElement('div');
    box.className = 'gf-badges';
    ORDER.forEach(function (state) {
      var n = mark[state] || 0;
      if (!n || state === 'cancelled') { return; }
      var badge = document.createElement('span');
      badge.className = 'gf-badge gf-badge-' + state;
      badge.textContent = SIGNS[state] + n;
      badge.title = (labels[state] || state) + ' ' + n;
      badge.setAttribute('data-state', state);
      badge.setAttribute('data-count', String(n));
      box.appendChild(badge);
    });
    return box.childNodes.length ? box : null;
  }

  function applyMarks(el, viewer, marks) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var overlays = viewer.get('overlays');
    var labels = {};
    try { labels = JSON.parse(el.getAttribute('data-labels') || '{}'); } catch (e) { labels = {}; }
    var elements = marks.elements || {};
    var shown = 0;
    Object.keys(elements).forEach(function (id) {
      var mark = elements[id];
      if (!registry.get(id)) { return; }
      canvas.addMarker(id, 'gf-' + mark.state);
      var box = badges(mark, labels);
      if (box) { overlays.add(id, 'gf-counts', { position: { top: -12, right: 14 }, html: box }); }
      shown += 1;
    });
    var links = marks.links || {};
    Object.keys(links).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, 'gf-linked'); }
    });
    viewer.on('element.click', function (event) {
      var url = links[event.element.id];
      if (url) { window.location.href = url; }
    });
    el.setAttribute('data-marked', String(shown));
  }

  function show(el) {
    var viewer = new window.BpmnJS({ container: el });
    var marksUrl = el.getAttribute('data-marks-url');
    Promise.all([getText(el.getAttribute('data-xml-url')), marksUrl ? getJSON(marksUrl) : Promise.resolve(null)])
      .then(function (loaded) {
        return viewer.importXML(loaded[0]).then(function () { return loaded[1]; });
      })
      .then(function (marks) {
        viewer.get('canvas').zoom('fit-viewport');
        if (marks) { applyMarks(el, viewer, marks); }
        el.setAttribute('data-ready', 'true');
      })
      .catch(function () {
        el.textContent = el.getAttribute('data-error') || 'error';
        el.setAttribute('data-ready', 'error');
      });
  }

  function start() {
    if (!window.BpmnJS) { return; }
    Array.prototype.forEach.call(document.querySelectorAll('.bpmn-diagram[data-xml-url]'), show);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
