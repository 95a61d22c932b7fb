'use strict';

// Every service task names a handler: <spiffworkflow:serviceTaskOperator id="module.handler"/>.
// Whether that handler is registered only the Python runtime knows (engine/validate.py checks it).
const { serviceOperator } = require('./helper');

module.exports = function() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:ServiceTask') return;
    const handler = serviceOperator(node);
    if (!handler || !String(handler).trim()) {
      reporter.report(node.id, 'Service task names no handler (spiffworkflow:serviceTaskOperator id)');
    }
  }
  return { check };
};
