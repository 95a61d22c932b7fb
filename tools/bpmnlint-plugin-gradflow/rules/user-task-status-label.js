'use strict';

// Every user task carries the status text the inbox and the graduate's record show:
// <spiffworkflow:property name="statusLabel" value="..."/>.
const { spiffProperty } = require('./helper');

module.exports = function() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:UserTask') return;
    const value = spiffProperty(node, 'statusLabel');
    if (!value || !String(value).trim()) reporter.report(node.id, 'User task has no statusLabel property');
  }
  return { check };
};
