'use strict';

// Every timer parses. SpiffWorkflow evaluates a timer's text as a Python expression: either a quoted
// ISO 8601 literal ('P3D', '2026-07-01T00:00:00', 'R3/PT1H') or an expression over task data
// (answer_deadline). A quoted literal must be valid ISO 8601; unquoted ISO text is a mistake (it would
// be read as a variable name); an empty timer never fires.

const NUM = '\\d+(?:[.,]\\d+)?';
const DURATION = new RegExp(
  `^P(?!$)(?:${NUM}Y)?(?:${NUM}M)?(?:${NUM}W)?(?:${NUM}D)?(?:T(?=\\d)(?:${NUM}H)?(?:${NUM}M)?(?:${NUM}S)?)?$`);
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

function isDuration(text) {
  return DURATION.test(text) && !/T$/.test(text);
}

function isDate(text) {
  const m = DATE.exec(text);
  if (!m) return false;
  const [ , , month, day, hour, minute, second ] = m.map(x => x === undefined ? undefined : Number(x));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 &&
    (hour === undefined || hour <= 23) && (minute === undefined || minute <= 59) &&
    (second === undefined || second <= 59);
}

function isCycle(text) {
  const parts = text.split('/');
  if (!/^R\d*$/.test(parts[0]) || parts.length < 2 || parts.length > 3) return false;
  const rest = parts.slice(1);
  if (rest.length === 1) return isDuration(rest[0]);
  return (isDate(rest[0]) && isDuration(rest[1])) || (isDuration(rest[0]) && isDate(rest[1]));
}

function literal(text) {
  const m = /^(['"])(.*)\1$/s.exec(text);
  return m ? m[2] : undefined;
}

function problem(kind, body) {
  const text = (body || '').trim();
  if (!text) return 'Timer has no time expression';
  const value = literal(text);
  if (value === undefined) {
    if (/^(R\d*\/|P\d|PT\d|\d{4}-\d{2}-\d{2})/.test(text)) {
      return `Timer text ${text} looks like ISO 8601 but is not quoted (SpiffWorkflow reads it as an expression)`;
    }
    return null; // an expression over task data: engine/validate.py checks its syntax and shape
  }
  const ok = kind === 'timeCycle' ? isCycle(value) : (isDate(value) || isDuration(value));
  return ok ? null : `Timer ${kind} ${value} is not a valid ISO 8601 ${kind === 'timeCycle' ? 'cycle' : 'date or duration'}`;
}

module.exports = function() {
  function check(node, reporter) {
    if (!Array.isArray(node.eventDefinitions)) return;
    for (const definition of node.eventDefinitions) {
      if (definition.$type !== 'bpmn:TimerEventDefinition') continue;
      const kinds = [ 'timeDate', 'timeDuration', 'timeCycle' ].filter(k => definition[k]);
      if (!kinds.length) {
        reporter.report(node.id, 'Timer has no time expression');
        continue;
      }
      for (const kind of kinds) {
        const message = problem(kind, definition[kind].body);
        if (message) reporter.report(node.id, message);
      }
    }
  }
  return { check };
};

module.exports.problem = problem;
