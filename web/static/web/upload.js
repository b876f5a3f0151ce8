// Uploads of the folder page: files and whole folders, through tus (/api/tus/), so an
// upload resumes after a dropped connection (automatic retries) or a page reload (pick
// the same file again: tus-js-client finds the unfinished upload it stored locally).
/* global tus */
const zone = document.getElementById("dropzone");
const list = document.getElementById("uploads");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const CHUNK = 8 * 1024 * 1024;
const folderIds = new Map([["", zone.dataset.folder]]);
let running = 0;
let completed = 0;
// Uploads go one after another, in the order picked: each gets the whole connection,
// and a folder's subfolders are made one at a time (never two racing for one name).
let queue = Promise.resolve();

function text(el, value) { el.textContent = value; }

function size(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function duration(seconds) {
  if (!isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  return `${Math.ceil(seconds / 60)} min left`;
}

// The folder for a relative path ("photos/2024"), made on the server as needed.
async function folderFor(path) {
  if (folderIds.has(path)) return folderIds.get(path);
  const body = new URLSearchParams({ parent: zone.dataset.folder, path });
  const resp = await fetch(zone.dataset.ensure, {
    method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin",
  });
  const data = await resp.json();
  if (!resp.ok) throw new Error(data.error ? data.error.message : `Could not make folder ${path}`);
  folderIds.set(path, data.id);
  return data.id;
}

// The server's own words for a refused upload (over quota, a bad name...).
function reason(error, file) {
  const resp = error.originalResponse;
  if (resp) {
    try {
      const body = JSON.parse(resp.getBody());
      if (body.error && body.error.code === "STORAGE_QUOTA_EXCEEDED") {
        return `Not enough storage left for this file (${size(file.size)}): ${body.error.message}`;
      }
      if (body.error && body.error.message) return body.error.message;
    } catch { /* not JSON */ }
    if (resp.getStatus() === 413) return "Not enough storage left for this file.";
  }
  return "The upload stopped. Pick the file again to resume it.";
}

function row(name) {
  const li = document.createElement("li");
  const label = document.createElement("span");
  const status = document.createElement("span");
  const bar = document.createElement("progress");
  const cancel = document.createElement("button");
  text(label, name);
  label.className = "filename";
  bar.max = 100; bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${name}`);
  cancel.type = "button";
  text(cancel, "Cancel");
  cancel.setAttribute("aria-label", `Cancel upload of ${name}`);
  status.className = "muted";
  li.append(label, cancel, bar, status);
  list.append(li);
  return { li, status, bar, cancel };
}

// Once nothing is left to send, show the new files (unless an error needs reading).
function finished() {
  running -= 1;
  if (running === 0 && completed > 0 && !list.querySelector(".error")) window.location.reload();
}

function send(file, relativePath) {
  const ui = row(relativePath || file.name);
  running += 1;
  text(ui.status, "Waiting…");
  const early = () => { ui.skipped = true; text(ui.status, "Cancelled"); ui.cancel.remove(); };
  ui.cancel.addEventListener("click", early, { once: true });
  queue = queue.then(() => new Promise((done) => {
    ui.cancel.removeEventListener("click", early);
    if (ui.skipped) { finished(); done(); return; }
    transfer(file, relativePath, ui, done);
  }));
}

async function transfer(file, relativePath, ui, done) {
  let folderId;
  try {
    const dir = relativePath && relativePath.includes("/") ? relativePath.slice(0, relativePath.lastIndexOf("/")) : "";
    folderId = await folderFor(dir);
  } catch (error) {
    ui.status.className = "error";
    text(ui.status, error.message);
    finished();
    done();
    return;
  }
  const started = Date.now();
  let startOffset = null;
  const upload = new tus.Upload(file, {
    endpoint: "/api/tus/",
    chunkSize: CHUNK,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    headers: { "X-CSRFToken": csrf },
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream", folderId },
    // One stored upload per file *and* place, so two same-named files never mix.
    fingerprint: async (f) => ["stratus", folderId, relativePath || f.name, f.size, f.lastModified].join("/"),
    removeFingerprintOnSuccess: true,
    onProgress(sent, total) {
      if (startOffset === null) startOffset = sent;
      const seconds = (Date.now() - started) / 1000;
      const speed = seconds > 0 ? (sent - startOffset) / seconds : 0;
      ui.bar.value = total ? (100 * sent) / total : 100;
      text(ui.status, `${size(sent)} of ${size(total)}` + (speed > 0 ? ` · ${size(speed)}/s · ${duration((total - sent) / speed)}` : ""));
    },
    onSuccess() {
      ui.bar.value = 100;
      text(ui.status, "Done");
      ui.cancel.remove();
      ui.li.dataset.done = "1";
      completed += 1;
      finished();
      done();
    },
    onError(error) {
      ui.status.className = "error";
      text(ui.status, reason(error, file));
      ui.cancel.remove();
      finished();
      done();
    },
  });
  ui.cancel.addEventListener("click", async () => {
    ui.cancel.remove();
    text(ui.status, "Cancelling…");
    try {
      await upload.abort(true); // terminates it on the server: the held quota is released
      text(ui.status, "Cancelled");
    } catch {
      text(ui.status, "Cancelled here; the server will drop the unfinished upload when it expires.");
    }
    ui.li.dataset.cancelled = "1";
    finished();
    done();
  });
  const previous = await upload.findPreviousUploads();
  if (previous.length) {
    upload.resumeFromPreviousUpload(previous[0]);
    text(ui.status, "Resuming…");
  }
  upload.start();
}

// Dropped folders: walk their entries, keeping each file's path inside the drop.
function walk(entry, prefix, out) {
  return new Promise((resolve) => {
    if (entry.isFile) {
      entry.file((file) => { out.push([file, prefix + file.name]); resolve(); }, () => resolve());
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      const all = [];
      const more = () => reader.readEntries(async (batch) => {
        if (!batch.length) {
          for (const child of all) await walk(child, `${prefix}${entry.name}/`, out);
          resolve();
        } else { all.push(...batch); more(); }
      }, () => resolve());
      more();
    } else resolve();
  });
}

zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  const found = [];
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry());
  if (entries.every(Boolean)) {
    for (const entry of entries) await walk(entry, "", found);
  } else {
    for (const file of event.dataTransfer.files) found.push([file, file.name]);
  }
  for (const [file, path] of found) send(file, path);
});
document.getElementById("pick-files").addEventListener("change", (event) => {
  for (const file of event.target.files) send(file, file.name);
  event.target.value = "";
});
document.getElementById("pick-folder").addEventListener("change", (event) => {
  for (const file of event.target.files) send(file, file.webkitRelativePath || file.name);
  event.target.value = "";
});
