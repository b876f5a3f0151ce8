// A PDF's file page: every page drawn by pdf.js (vendored, loaded only on this page; its
// worker is one of our own static files, so the strict CSP holds), each page when it comes
// near the screen. A page's text is kept beside its picture for screen readers and search.
const box = document.getElementById("pdf");
const status = document.getElementById("pdf-status");

async function draw(pdf, section) {
  const page = await pdf.getPage(Number(section.dataset.page));
  const canvas = section.querySelector("canvas");
  const scale = Math.min(3, (box.clientWidth * devicePixelRatio) / page.getViewport({ scale: 1 }).width);
  const viewport = page.getViewport({ scale });
  canvas.width = Math.floor(viewport.width);
  canvas.height = Math.floor(viewport.height);
  await page.render({ canvasContext: canvas.getContext("2d"), canvas, viewport }).promise;
  const text = document.createElement("p");
  text.className = "sr-only";
  text.textContent = (await page.getTextContent()).items.map((item) => item.str + (item.hasEOL ? "\n" : " ")).join("");
  section.append(text);
  section.dataset.drawn = "true";
}

async function show() {
  const pdfjs = await import(box.dataset.lib);
  pdfjs.GlobalWorkerOptions.workerSrc = box.dataset.worker;
  const pdf = await pdfjs.getDocument({ url: box.dataset.src }).promise;
  const size = (await pdf.getPage(1)).getViewport({ scale: 1 });
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries.filter((e) => e.isIntersecting)) {
      observer.unobserve(entry.target);
      draw(pdf, entry.target).catch((error) => console.warn("PDF page not drawn", error));
    }
  }, { rootMargin: "100% 0px" });
  box.querySelector(".pdf-first")?.remove();
  status.textContent = pdf.numPages === 1 ? "1 page" : `${pdf.numPages} pages`;
  for (let number = 1; number <= pdf.numPages; number++) {
    const section = document.createElement("section");
    section.className = "pdf-page";
    section.dataset.page = number;
    section.setAttribute("aria-label", `Page ${number} of ${pdf.numPages}`);
    const canvas = document.createElement("canvas");
    canvas.width = size.width;  // the first page's shape keeps the space until this one is drawn
    canvas.height = size.height;
    canvas.setAttribute("aria-hidden", "true");
    section.append(canvas);
    box.append(section);
    observer.observe(section);
  }
}

show().catch((error) => {
  status.textContent = "This PDF cannot be shown here; use Download to open it.";
  console.warn("PDF not shown", error);
});
