'use strict';

// The spiffworkflow extension elements the platform reads (see engine/validate.py and processes/*/*.bpmn):
//   <spiffworkflow:properties><spiffworkflow:property name="formKey" value="..."/></spiffworkflow:properties>
//   <spiffworkflow:serviceTaskOperator id="handler.name" resultVariable="service_result">
// Without a moddle extension bpmn-moddle keeps them as generic elements ($children); with the one the
// designer page uses (webapp/static/designer/spiffworkflow.json) they are typed (properties, values).

function extensionValues(node) {
  return (node.extensionElements && node.extensionElements.values) || [];
}

function children(element) {
  return element.$children || element.properties || element.parameters || [];
}

function isType(element, name) {
  return String(element.$type).toLowerCase() === ('spiffworkflow:' + name).toLowerCase();
}

/** The value of <spiffworkflow:property name="..."> on an element, or undefined. */
function spiffProperty(node, name) {
  for (const block of extensionValues(node)) {
    if (!isType(block, 'properties')) continue;
    for (const prop of children(block)) {
      if (isType(prop, 'property') && prop.name === name) return prop.value;
    }
  }
  return undefined;
}

/** The handler a service task names (<spiffworkflow:serviceTaskOperator id="...">), or undefined. */
function serviceOperator(node) {
  for (const block of extensionValues(node)) {
    if (isType(block, 'serviceTaskOperator')) return block.id;
  }
  return undefined;
}

module.exports = { spiffProperty, serviceOperator };
