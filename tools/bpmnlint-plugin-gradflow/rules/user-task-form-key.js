'use strict';

// Every user task names the form it shows: <spiffworkflow:property name="formKey" value="..."/>.
const { spiffProperty } = require('./helper');

module.exports = function() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:UserTask') return;
    const value = spiffProperty(node, 'formKey');
    if (!value || !String(value).trim()) reporter.report(node.id, 'User task has no formKey property');
  }
  return { check };
};
