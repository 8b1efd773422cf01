// The live feed on the list of notes: a websocket to /api/live that adds, changes and removes notes
// as they change in the user's other windows (or through the API). No framework, no build step.
// What users typed goes into the page as text (textContent), never as markup.
"use strict";

(() => {
  const list = document.getElementById("notes");
  const template = document.getElementById("note-template");
  const status = document.getElementById("live");
  const empty = document.getElementById("empty");
  const firstPage = list.dataset.page === "1";
  let retry = 500; // ms before reconnecting; doubles up to 10 s while the server is away

  function fill(article, note) {
    article.id = `note-${note.id}`;
    article.dataset.id = note.id;
    article.querySelector(".title").textContent = note.title;
    article.querySelector(".body").textContent = note.body;
    const created = article.querySelector(".created");
    created.dateTime = note.created;
    created.textContent = `${note.created.slice(0, 16).replace("T", " ")} UTC`;
    article.querySelector("form.delete").action = `/notes/${note.id}/delete`;
  }

  function apply(event) {
    if (event.type === "created" && firstPage && !document.getElementById(`note-${event.note.id}`)) {
      const article = template.content.firstElementChild.cloneNode(true);
      fill(article, event.note);
      list.prepend(article);
    } else if (event.type === "updated") {
      const article = document.getElementById(`note-${event.note.id}`);
      if (article) fill(article, event.note);
    } else if (event.type === "deleted") {
      document.getElementById(`note-${event.id}`)?.remove();
    }
    empty.hidden = list.children.length > 0;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/live`);
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "ready") {
        status.textContent = "live";
        status.classList.add("on");
        retry = 500;
      } else {
        apply(event);
      }
    });
    socket.addEventListener("close", (close) => {
      status.textContent = "offline";
      status.classList.remove("on");
      if (close.code === 1013) {
        location.reload(); // we fell behind and missed changes: the page has them all
      } else if (close.code !== 1000) {
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10_000);
      }
    });
  }

  connect();
})();
