// The designer's modeler: bpmn-js Modeler (/vendor/bpmn-modeler.js) with a small properties panel of our own
// for the spiff properties the platform reads (formKey, statusLabel, the service task's handler), written as
// the same extension elements the shipped files use:
//   <spiffworkflow:properties><spiffworkflow:property name="statusLabel" value="..."/></spiffworkflow:properties>
//   <spiffworkflow:serviceTaskOperator id="module.handler" resultVariable="service_result">
// Validate and deploy POST the diagram's XML as JSON with the CSRF token in X-CSRFToken.
(function () {
  'use strict';

  var page, modeler, current;

  function $(id) { return document.getElementById(id); }
  function msg(key) { return page.getAttribute('data-msg-' + key) || key; }

  function values(bo) { return (bo.extensionElements && bo.extensionElements.values) || []; }
  function isType(x, name) { return String(x.$type).toLowerCase() === ('spiffworkflow:' + name).toLowerCase(); }

  function propertiesBlock(bo) {
    return values(bo).filter(function (v) { return isType(v, 'properties'); })[0];
  }

  function readProperty(bo, name) {
    var block = propertiesBlock(bo);
    var found = block && (block.properties || []).filter(function (p) { return p.name === name; })[0];
    return found ? (found.value || '') : '';
  }

  function operator(bo) {
    return values(bo).filter(function (v) { return isType(v, 'serviceTaskOperator'); })[0];
  }

  function ensureExtensions(element) {
    var bo = element.businessObject;
    if (!bo.extensionElements) {
      var ext = modeler.get('moddle').create('bpmn:ExtensionElements', { values: [] });
      modeler.get('modeling').updateProperties(element, { extensionElements: ext });
    }
    return bo.extensionElements;
  }

  function writeProperty(element, name, value) {
    var moddle = modeler.get('moddle');
    var modeling = modeler.get('modeling');
    var bo = element.businessObject;
    var block = propertiesBlock(bo);
    if (!block) {
      if (!value) { return; }
      var ext = ensureExtensions(element);
      block = moddle.create('spiffworkflow:Properties', { properties: [] });
      block.$parent = ext;
      modeling.updateModdleProperties(element, ext, { values: ext.values.concat([ block ]) });
    }
    var list = block.properties || [];
    var prop = list.filter(function (p) { return p.name === name; })[0];
    if (prop && !value) {
      modeling.updateModdleProperties(element, block, { properties: list.filter(function (p) { return p !== prop; }) });
    } else if (prop) {
      modeling.updateModdleProperties(element, prop, { value: value });
    } else if (value) {
      prop = moddle.create('spiffworkflow:Property', { name: name, value: value });
      prop.$parent = block;
      modeling.updateModdleProperties(element, block, { properties: list.concat([ prop ]) });
    }
  }

  function writeHandler(element, handler) {
    var moddle = modeler.get('moddle');
    var modeling = modeler.get('modeling');
    var op = operator(element.businessObject);
    if (op) {
      modeling.updateModdleProperties(element, op, { id: handler });
      return;
    }
    if (!handler) { return; }
    var ext = ensureExtensions(element);
    op = moddle.create('spiffworkflow:ServiceTaskOperator', {
      id: handler, resultVariable: 'service_result',
      parameters: moddle.create('spiffworkflow:Parameters', { parameters: [] })
    });
    op.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: ext.values.concat([ op ]) });
  }

  function showProps(element) {
    current = element;
    var type = element && element.businessObject && element.businessObject.$type;
    var editable = type === 'bpmn:UserTask' || type === 'bpmn:ServiceTask' || type === 'bpmn:EndEvent';
    $('props-fields').hidden = !editable;
    $('props-empty').hidden = editable;
    if (!editable) { return; }
    var bo = element.businessObject;
    $('props-type').textContent = type.replace('bpmn:', '');
    $('props-id').textContent = bo.id;
    $('prop-name').value = bo.name || '';
    Array.prototype.forEach.call(document.querySelectorAll('#props-fields [data-for]'), function (div) {
      div.hidden = div.getAttribute('data-for').split(' ').indexOf(type) < 0;
    });
    $('prop-formKey').value = readProperty(bo, 'formKey');
    $('prop-statusLabel').value = readProperty(bo, 'statusLabel');
    var op = operator(bo);
    $('prop-handler').value = (op && op.id) || '';
  }

  function bindField(id, write) {
    $(id).addEventListener('change', function () {
      if (current) { write(current, $(id).value.trim()); }
    });
  }

  function clearProblems() {
    var canvas = modeler.get('canvas');
    modeler.get('elementRegistry').getAll().forEach(function (el) { canvas.removeMarker(el.id, 'gf-problem'); });
    $('problems').textContent = '';
  }

  function listProblems(problems) {
    clearProblems();
    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    problems.forEach(function (p) {
      var li = document.createElement('li');
      li.className = p.warning ? 'warning' : 'error';
      li.setAttribute('data-element', p.element_id || '');
      var code = document.createElement('code');
      code.textContent = (p.file || '') + (p.element_id ? ' [' + p.element_id + ']' : '');
      li.appendChild(code);
      li.appendChild(document.createTextNode(' ' + (p.warning ? msg('warning') + ' ' : '') + p.message));
      $('problems').appendChild(li);
      var el = p.element_id && registry.get(p.element_id);
      if (el && !p.warning) {
        canvas.addMarker(p.element_id, 'gf-problem');
        li.addEventListener('click', function () { modeler.get('selection').select(el); });
      }
    });
  }

  function result(text, ok) {
    var box = $('designer-result');
    box.textContent = text;
    box.className = 'designer-result ' + (ok ? 'ok' : 'bad');
  }

  function post(url) {
    return modeler.saveXML({ format: true }).then(function (saved) {
      return fetch(url, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': page.getAttribute('data-csrf') },
        body: JSON.stringify({ name: page.getAttribute('data-name'), xml: saved.xml })
      });
    }).then(function (resp) {
      return resp.json().catch(function () { return { ok: false, problems: [] }; });
    });
  }

  function failed(body) {
    var errors = (body.problems || []).filter(function (p) { return !p.warning; });
    listProblems(body.problems || []);
    result(msg('invalid') + errors.length, false);
  }

  function validate() {
    post(page.getAttribute('data-validate-url')).then(function (body) {
      if (body.ok) { listProblems(body.problems || []); result(msg('valid'), true); } else { failed(body); }
    }).catch(function () { result(msg('error'), false); });
  }

  function deploy() {
    post(page.getAttribute('data-deploy-url')).then(function (body) {
      if (!body.ok) { failed(body); return; }
      listProblems(body.problems || []);
      var box = $('designer-result');
      box.className = 'designer-result ok';
      box.textContent = '';
      if (!(body.versions || []).length) { box.textContent = msg('same'); return; }
      box.appendChild(document.createTextNode(msg('deployed')));
      body.versions.forEach(function (v, i) {
        var a = document.createElement('a');
        a.href = v.url;
        a.className = 'deployed-version';
        a.setAttribute('data-version', v.id);
        a.textContent = (i ? '、' : '') + v.process_id + ' #' + v.id + ' ' + v.content_hash.slice(0, 12);
        box.appendChild(a);
      });
    }).catch(function () { result(msg('error'), false); });
  }

  function download() {
    modeler.saveXML({ format: true }).then(function (saved) {
      var a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([ saved.xml ], { type: 'application/xml' }));
      a.download = page.getAttribute('data-name');
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    page = $('modeler-page');
    if (!page || !window.BpmnJS) { return; }
    $('props-empty').textContent = msg('none');
    var get = function (url) {
      return fetch(url, { credentials: 'same-origin' }).then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r;
      });
    };
    Promise.all([ get(page.getAttribute('data-descriptor-url')).then(function (r) { return r.json(); }),
                  get(page.getAttribute('data-xml-url')).then(function (r) { return r.text(); }) ])
      .then(function (loaded) {
        modeler = new window.BpmnJS({ container: '#canvas', moddleExtensions: { spiffworkflow: loaded[0] } });
        return modeler.importXML(loaded[1]);
      })
      .then(function () {
        modeler.get('canvas').zoom('fit-viewport');
        modeler.on('selection.changed', function (e) { showProps(e.newSelection[0]); });
        modeler.on('element.changed', function (e) { if (current && e.element === current) { showProps(current); } });
        bindField('prop-name', function (el, v) { modeler.get('modeling').updateProperties(el, { name: v }); });
        bindField('prop-formKey', function (el, v) { writeProperty(el, 'formKey', v); });
        bindField('prop-statusLabel', function (el, v) { writeProperty(el, 'statusLabel', v); });
        bindField('prop-handler', writeHandler);
        $('btn-validate').addEventListener('click', validate);
        $('btn-deploy').addEventListener('click', deploy);
        $('btn-download').addEventListener('click', download);
        showProps(null);
        page.setAttribute('data-ready', 'true');
      })
      .catch(function () { result(msg('error'), false); });
  });
}());
