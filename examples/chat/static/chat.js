// The chat page's script, served at /static/chat.js: one websocket, JSON in both directions
// (examples/chat/protocol.py describes the messages). No framework, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_LINES = 500; // lines kept on the page
  let socket = null;
  let pending = null; // the join to send once the socket is open

  function socketUrl() {
    // The server gives its own URL for the socket; take the page's host and scheme, which a proxy
    // in front of the server may have changed.
    const url = new URL(document.body.dataset.socket);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.host = location.host;
    return url.href;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(text) {
    $("error").textContent = text;
    $("error").hidden = !text;
  }

  function setInRoom(inRoom) {
    $("text").disabled = !inRoom;
    $("send").disabled = !inRoom;
    $("leave").disabled = !inRoom;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function addLine(parts, className) {
    const log = $("log");
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    const line = document.createElement("li");
    line.className = className;
    for (const [text, partClass] of parts) {
      const span = document.createElement("span"); // textContent: what users type is never HTML
      span.textContent = text;
      if (partClass) span.className = partClass;
      line.append(span);
    }
    log.append(line);
    while (log.children.length > MAX_LINES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function addMessage(event, className) {
    addLine(
      [
        [clock(event.time), "time"],
        [event.nick, "nick"],
        [event.text, "text"],
      ],
      className,
    );
  }

  const handlers = {
    welcome(event) {
      $("room-title").textContent = `#${event.room}`;
      $("log").replaceChildren();
      for (const message of event.history) addMessage(message, "message history");
      setInRoom(true);
      showError("");
      setStatus(`in #${event.room} as ${event.nick}`);
      $("text").focus();
    },
    message(event) {
      addMessage(event, "message");
    },
    join(event) {
      addLine([[clock(event.time), "time"], [`${event.nick} joined`, ""]], "notice");
    },
    leave(event) {
      const how = event.reason === "dropped" ? "was dropped (too slow)" : "left";
      addLine([[clock(event.time), "time"], [`${event.nick} ${how}`, ""]], "notice");
    },
    left(event) {
      addLine([[`You left #${event.room}`, ""]], "notice");
      $("room-title").textContent = "No room yet";
      setInRoom(false);
      setStatus("connected, in no room");
    },
    error(event) {
      showError(event.message);
    },
  };

  function connect() {
    socket = new WebSocket(socketUrl());
    setStatus("connecting…");
    socket.addEventListener("open", () => {
      setStatus("connected");
      if (pending) socket.send(JSON.stringify(pending));
      pending = null;
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      const handle = handlers[event.type];
      if (handle) handle(event);
    });
    socket.addEventListener("close", (close) => {
      socket = null;
      setInRoom(false);
      setStatus(`disconnected (${close.code}${close.reason ? ": " + close.reason : ""})`);
      if (close.code === 1013) showError("You fell too far behind and were disconnected. Join again.");
      else if (close.code !== 1000) showError("The connection to the chat was lost. Join again.");
    });
  }

  $("join-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const join = { type: "join", nick: $("nick").value.trim(), room: $("room").value.trim() };
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(join));
    } else {
      pending = join;
      if (!socket) connect();
    }
  });

  $("leave").addEventListener("click", () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "leave" }));
  });

  $("say-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const text = $("text").value;
    if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "say", text }));
    $("text").value = "";
  });
})();
