// The designer's read-only diagrams: a version's BPMN drawn by bpmn-js (/vendor/bpmn-viewer.js), with the
// elements a diff names marked (data-added / data-removed / data-changed: space-separated element ids).
(function () {
  'use strict';

  var MARKS = { added: 'gf-added', removed: 'gf-removed', changed: 'gf-changed', problems: 'gf-problem' };

  function ids(el, key) {
    return (el.getAttribute('data-' + key) || '').split(/\s+/).filter(Boolean);
  }

  function show(el) {
    var viewer = new window.BpmnJS({ container: el });
    fetch(el.getAttribute('data-xml-url'), { credentials: 'same-origin' })
      .then(function (resp) { if (!resp.ok) { throw new Error(resp.status); } return resp.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get('canvas');
        var registry = viewer.get('elementRegistry');
        canvas.zoom('fit-viewport');
        Object.keys(MARKS).forEach(function (key) {
          ids(el, key).forEach(function (id) {
            if (registry.get(id)) { canvas.addMarker(id, MARKS[key]); }
          });
        });
        el.setAttribute('data-ready', 'true');
      })
      .catch(function () {
        el.textContent = el.getAttribute('data-error') || 'error';
        el.setAttribute('data-ready', 'error');
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (!window.BpmnJS) { return; }
    Array.prototype.forEach.call(document.querySelectorAll('.gf-diagram[data-xml-url]'), show);
  });
}());
