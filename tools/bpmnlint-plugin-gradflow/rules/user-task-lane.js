'use strict';

// Every user task sits in a lane: the lane names who works it (Graduate, Employer, Department, ...).

function laneRefs(laneSets, into) {
  for (const laneSet of laneSets || []) {
    for (const lane of laneSet.lanes || []) {
      for (const ref of lane.flowNodeRef || []) into.add(ref.id);
      if (lane.childLaneSet) laneRefs([ lane.childLaneSet ], into);
    }
  }
  return into;
}

function userTasks(container, into) {
  for (const element of container.flowElements || []) {
    if (element.$type === 'bpmn:UserTask') into.push(element);
    if (element.$type === 'bpmn:SubProcess') userTasks(element, into);
  }
  return into;
}

module.exports = function() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:Process') return;
    const inLane = laneRefs(node.laneSets, new Set());
    for (const task of userTasks(node, [])) {
      if (!inLane.has(task.id)) reporter.report(task.id, 'User task is in no lane (the lane decides who works it)');
    }
  }
  return { check };
};
