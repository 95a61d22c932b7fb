'use strict';

// gradflow's own bpmnlint rules (the root .bpmnlintrc turns them on as gradflow/<rule>).
module.exports = {
  configs: {
    recommended: {
      rules: {
        'user-task-lane': 'error',
        'user-task-form-key': 'error',
        'user-task-status-label': 'error',
        'service-task-handler': 'error',
        'timer-iso8601': 'error'
      }
    }
  }
};
