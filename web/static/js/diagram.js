// Renders an item's BPMN diagram read-only and highlights the current step(s).
(function () {
  const container = document.getElementById("diagram");
  if (!container || !window.BpmnJS) return;
  const viewer = new window.BpmnJS({ container });
  const ids = (value) => (value || "").split(",").filter(Boolean);
  fetch(container.dataset.src, { credentials: "same-origin" })
    .then((response) => response.text())
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get("canvas");
      const registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      ids(container.dataset.done).forEach((id) => registry.get(id) && canvas.addMarker(id, "done"));
      ids(container.dataset.current).forEach((id) => registry.get(id) && canvas.addMarker(id, "current"));
      container.dataset.rendered = "true";
    })
    .catch((error) => {
      container.textContent = "Diagram could not be shown: " + error.message;
      container.dataset.rendered = "error";
    });
})();
