// The studio's drawing canvas: one brush per label of the style's map, in the label's colour; an
// eraser that paints the background label; brush size, undo, clear and "start from the style's map".
// Runs as the js_on_load of a gr.HTML (`element` is its root). After every stroke it hands the
// canvas to the server as a PNG through a hidden textbox; the server snaps it to the palette.
// The server sends a new setup (size, brushes, starting layout) through window.doodleStudio.setup.
(() => {
  const root = element.querySelector(".studio-canvas");
  const canvas = root.querySelector("canvas");
  const underlay = root.querySelector("img.underlay");
  const legend = root.querySelector(".legend");
  const size = root.querySelector("input.brush-size");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  // Each stroke is also drawn here, in black, and lands on the canvas in its label's exact colour
  // wherever it covers at least half a pixel: no anti-aliased edge colours (which the server
  // would snap to the nearest label, perhaps a third one between two brushes).
  const stroke = document.createElement("canvas");
  const strokeContext = stroke.getContext("2d", { willReadFrequently: true });
  const HISTORY = 40; // undo steps kept (a 512x384 canvas is 0.8 MB a step)
  let colours = [], names = [], background = 0, brush = 0, history = [], last = null, styleMap = null;
  let sequence = 0; // numbers the snapshots: handled side by side, an older one must not win
  let generation = 0; // the server's number of the setup drawn on: a snapshot of an older one is dropped

  function send() {
    const box = document.querySelector("#studio-canvas-data textarea, #studio-canvas-data input");
    if (!box) return;
    sequence += 1;
    box.value = `${generation} ${sequence} ${canvas.toDataURL("image/png")}`;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function remember() {
    history.push(context.getImageData(0, 0, canvas.width, canvas.height));
    if (history.length > HISTORY) history.shift();
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return { x: (event.clientX - box.left) * canvas.width / box.width,
             y: (event.clientY - box.top) * canvas.height / box.height };
  }

  function line(from, to) {
    for (const [target, colour] of [[context, colours[brush]], [strokeContext, "#000"]]) {
      target.strokeStyle = colour;
      target.lineWidth = Number(size.value);
      target.lineCap = "round";
      target.lineJoin = "round";
      target.beginPath();
      target.moveTo(from.x, from.y);
      target.lineTo(to.x, to.y);
      target.stroke();
    }
  }

  function settle() {
    // The canvas as it was before the stroke, with the stroke's pixels set to the brush's colour.
    const before = history[history.length - 1];
    const result = new ImageData(new Uint8ClampedArray(before.data), before.width, before.height);
    const covered = strokeContext.getImageData(0, 0, stroke.width, stroke.height).data;
    const rgb = [1, 3, 5].map((start) => parseInt(colours[brush].slice(start, start + 2), 16));
    for (let index = 3; index < covered.length; index += 4) {
      if (covered[index] >= 128) {
        result.data[index - 3] = rgb[0]; result.data[index - 2] = rgb[1]; result.data[index - 1] = rgb[2];
        result.data[index] = 255;
      }
    }
    context.putImageData(result, 0, 0);
  }

  function fill(colour) {
    context.fillStyle = colour;
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function drawImage(url, then) {
    const image = new Image();
    const drawnFor = generation;
    image.onload = () => {
      if (drawnFor !== generation) return; // a newer setup came meanwhile
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      if (then) then();
    };
    image.src = url;
  }

  function choose(label, erasing = false) {
    brush = label;
    legend.querySelectorAll("button[data-label]").forEach((button) => {
      const isEraser = Boolean(button.dataset.eraser);
      button.classList.toggle("chosen", erasing ? isEraser : !isEraser && Number(button.dataset.label) === label);
    });
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (!colours.length || event.button !== 0) return;
    remember();
    strokeContext.clearRect(0, 0, stroke.width, stroke.height);
    last = point(event);
    line(last, last);
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (last === null) return;
    const here = point(event);
    line(last, here);
    last = here;
  });
  const finish = () => { if (last !== null) { last = null; settle(); send(); } };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  root.querySelector("button.undo").addEventListener("click", () => {
    if (!history.length) return;
    context.putImageData(history.pop(), 0, 0);
    send();
  });
  root.querySelector("button.clear").addEventListener("click", () => {
    if (!colours.length) return;
    remember();
    fill(colours[background]);
    send();
  });
  // The doodle as a PNG map, straight from the canvas: strokes land in exact label colours (see
  // settle), so what is downloaded is what was drawn, however many strokes are still on their way.
  root.querySelector("button.download").addEventListener("click", () => {
    if (!colours.length) return;
    const link = document.createElement("a");
    link.download = root.classList.contains("editing") ? "style_sem.png" : "doodle_sem.png";
    link.href = canvas.toDataURL("image/png");
    link.click();
  });
  root.querySelector("button.from-style").addEventListener("click", () => {
    if (!styleMap) return;
    remember();
    drawImage(styleMap, send);
  });

  function setup(config) {
    if (config.generation === generation) return; // applied already
    generation = config.generation;
    colours = config.colours; names = config.names; background = config.background;
    styleMap = config.style_map; history = []; last = null;
    canvas.width = stroke.width = config.width; canvas.height = stroke.height = config.height;
    fill(colours[background]);
    drawImage(config.start, config.preview ? send : null); // an uploaded doodle is previewed as a stroke is
    root.classList.toggle("editing", Boolean(config.editing_style_map));
    if (config.underlay) underlay.src = config.underlay; else underlay.removeAttribute("src");
    underlay.style.display = config.underlay ? "block" : "none";
    legend.replaceChildren();
    colours.forEach((colour, label) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.label = String(label);
      button.title = `brush: ${names[label]}`;
      button.innerHTML = `<span class="swatch"></span>`;
      button.querySelector(".swatch").style.background = colour;
      button.append(document.createTextNode(names[label]));
      button.addEventListener("click", () => choose(label));
      legend.append(button);
    });
    const eraserButton = document.createElement("button");
    eraserButton.type = "button";
    eraserButton.dataset.eraser = "1";
    eraserButton.dataset.label = String(background);
    eraserButton.title = `eraser: paints ${names[background]}, the background`;
    eraserButton.textContent = "eraser";
    eraserButton.addEventListener("click", () => choose(background, true));
    legend.append(eraserButton);
    choose(background === 0 && colours.length > 1 ? 1 : 0);
    root.querySelector(".hint").textContent = config.editing_style_map
      ? "Correcting the style's map: paint each region of the painting with its label."
      : "Draw with a label's brush; the preview follows each stroke.";
  }

  window.doodleStudio = { setup, snapshot: () => canvas.toDataURL("image/png") };
})();
