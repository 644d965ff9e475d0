// Renders an item's BPMN diagrams (its own and the shared subprocesses it calls) read-only
// and highlights the current and completed steps in whichever diagram holds them.
(function () {
  if (!window.BpmnJS) return;
  const ids = (value) => (value || "").split(",").filter(Boolean);
  document.querySelectorAll(".diagram[data-src]").forEach((container) => {
    const viewer = new window.BpmnJS({ container });
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
  });
})();
