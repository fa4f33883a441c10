// The sandbox chat page: plays the customer against the bot through /sandbox/users/{wa_id}/messages.
// Every value from the server is put on the page with textContent, never as HTML.
"use strict";

(() => {
  const PRESETS = ["16505551234", "447700900123", "5511987654321", "919876543210"];
  const POLL_MS = 700;
  const STATUS_MS = 1000; // how often the page asks whether the last save of flows or templates loaded
  const USERS_EVERY = 6; // refresh the chat list every few polls
  const SETTLED = new Set(["read", "failed"]);
  const WATCHED = 30; // only the latest items may still change status
  const TICKS = {
    accepted: ["○", "Pending"],
    sent: ["✓", "Sent"],
    delivered: ["✓✓", "Delivered"],
    read: ["✓✓", "Read"],
    failed: ["!", "Failed"],
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    waId: null,
    items: new Map(), // wamid -> {item, node}
    order: [],
    generation: 0,
    timer: null,
    inFlight: false,
    again: false,
    polls: 0,
    users: [],
    pollError: false,
    numbers: [], // the business numbers the sandbox hosts: [{id, display_number}], the default first
    business: null, // the one the customer writes to; each is a chat of its own, as on a phone
  };

  // --- small helpers ------------------------------------------------------------------------------

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function save(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      /* private mode: nothing to remember */
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function normalise(raw) {
    return raw.replace(/[\s+\-().]/g, "");
  }

  function time(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      const error = new Error("Cannot reach the service; is it still running?");
      error.status = 0;
      throw error;
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message ? data.error.message : `HTTP ${response.status}`;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function messagesPath(waId) {
    return `/sandbox/users/${encodeURIComponent(waId)}/messages`;
  }

  // --- the chat list ------------------------------------------------------------------------------

  function recents() {
    try {
      const list = JSON.parse(load("sandbox.recent") || "[]");
      return Array.isArray(list) ? list.filter((x) => typeof x === "string") : [];
    } catch {
      return [];
    }
  }

  function remember(waId) {
    const list = [waId, ...recents().filter((x) => x !== waId)].slice(0, 8);
    save("sandbox.recent", JSON.stringify(list));
  }

  async function refreshUsers() {
    try {
      state.users = (await api("GET", "/sandbox/users")).items || [];
    } catch {
      return; // the list is a convenience; the poll reports connection problems
    }
    renderChats();
  }

  function renderChats() {
    const known = new Map(state.users.map((u) => [u.wa_id, u]));
    const numbers = [...new Set([...recents(), ...state.users.map((u) => u.wa_id), ...PRESETS])];
    const list = $("chats");
    list.replaceChildren();
    for (const waId of numbers) {
      const user = known.get(waId);
      const button = el("button", "chat-item");
      button.type = "button";
      button.dataset.waId = waId;
      if (waId === state.waId) button.setAttribute("aria-current", "true");
      button.append(el("span", "chat-number", user && user.name ? `${user.name} +${waId}` : `+${waId}`));
      let detail = user && user.last_message_at ? `last message ${time(user.last_message_at)}` : "no messages yet";
      if (user && user.known) detail += " · a contact of the business";
      button.append(el("span", "chat-detail", detail));
      button.addEventListener("click", () => {
        $("number").value = waId;
        if (user && user.known && user.name) $("name").value = user.name; // chat as the contact, by their name
        openChat(waId);
      });
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }

  // --- the conversation ---------------------------------------------------------------------------

  async function openChat(raw) {
    const waId = normalise(raw);
    if (!waId) {
      showError("Type the customer's phone number first.");
      $("number").focus();
      return;
    }
    state.generation += 1;
    const generation = state.generation;
    clearTimeout(state.timer);
    let data;
    try {
      data = await api("GET", messagesPath(waId));
    } catch (error) {
      if (generation !== state.generation) return;
      showError(error.message);
      $("number").focus();
      return;
    }
    if (generation !== state.generation) return;
    state.waId = waId;
    state.items.clear();
    state.order = [];
    $("messages").replaceChildren();
    showError("");
    save("sandbox.number", waId);
    remember(waId);
    $("chat-subtitle").textContent = `Chatting as +${waId}`;
    for (const id of ["message", "send", "attach", "location-open"]) $(id).disabled = false;
    merge(data);
    renderChats();
    schedulePoll();
    $("message").focus();
  }

  function cursor() {
    // The newest item before the first that may still change, so that one poll brings new items and
    // the status changes of recent ones alike.
    const start = Math.max(0, state.order.length - WATCHED);
    let cut = state.order.length;
    for (let i = start; i < state.order.length; i += 1) {
      if (!SETTLED.has(state.items.get(state.order[i]).item.status)) {
        cut = i;
        break;
      }
    }
    return cut === 0 ? null : state.order[cut - 1];
  }

  function merge(data) {
    const scroller = $("scroller");
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    let added = false;
    for (const item of data.items || []) {
      if (state.numbers.length > 1 && item.phone_number_id && item.phone_number_id !== state.business) continue;
      const known = state.items.get(item.wamid);
      if (known) {
        if (known.item.status !== item.status) {
          known.item = item;
          updateTicks(known.node, item);
        }
        continue;
      }
      const node = renderItem(item);
      state.items.set(item.wamid, { item, node });
      state.order.push(item.wamid);
      $("messages").append(node);
      added = true;
    }
    $("empty").textContent = "No messages yet. Say hello; the bot answers here.";
    $("empty").hidden = state.order.length > 0;
    $("chat-subtitle").textContent = data.typing ? "typing…" : `Chatting as +${state.waId}`;
    if (added && (atBottom || state.order.length <= (data.items || []).length)) {
      scroller.scrollTop = scroller.scrollHeight;
    }
  }

  function schedulePoll(delay = POLL_MS) {
    clearTimeout(state.timer);
    state.timer = setTimeout(poll, delay);
  }

  async function poll() {
    if (!state.waId) return;
    if (state.inFlight) {
      state.again = true;
      return;
    }
    state.inFlight = true;
    const generation = state.generation;
    const after = cursor();
    const query = after ? `?after=${encodeURIComponent(after)}` : "";
    try {
      const data = await api("GET", messagesPath(state.waId) + query);
      if (generation === state.generation) {
        merge(data);
        if (state.pollError) showError("");
        state.pollError = false;
      }
    } catch (error) {
      if (generation === state.generation) {
        if (error.status === 404) {
          // The sandbox restarted and forgot this chat: start again from what it has.
          state.items.clear();
          state.order = [];
          $("messages").replaceChildren();
        } else {
          state.pollError = true;
          showError(error.message);
        }
      }
    } finally {
      state.inFlight = false;
    }
    if (state.again) {
      // Someone asked for a poll while this one ran (a send, or another chat opened): run it now.
      state.again = false;
      schedulePoll(0);
      return;
    }
    if (generation !== state.generation) return;
    state.polls += 1;
    if (state.polls % USERS_EVERY === 0) refreshUsers();
    schedulePoll();
  }

  async function customerSendsFile(file) {
    if (!state.waId || !file) return false;
    const form = new FormData();
    form.append("file", file, file.name);
    const caption = $("message").value.trim();
    if (caption) form.append("caption", caption);
    const name = $("name").value.trim();
    if (name) form.append("name", name);
    let response;
    try {
      response = await fetch(`/sandbox/users/${encodeURIComponent(state.waId)}/media`, { method: "POST", body: form });
    } catch {
      showError("Cannot reach the service; is it still running?");
      return false;
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const data = await response.json();
        message = (data && data.error && data.error.message) || message;
      } catch {
        /* not JSON: keep the status */
      }
      showError(message);
      return false;
    }
    if (caption) $("message").value = "";
    showError("");
    schedulePoll(0);
    refreshUsers();
    return true;
  }

  async function customerSends(body) {
    if (!state.waId) return false;
    const name = $("name").value.trim();
    if (name) body.name = name;
    if (state.numbers.length > 1 && state.business) body.to = state.business;
    try {
      await api("POST", messagesPath(state.waId), body);
    } catch (error) {
      showError(error.message);
      schedulePoll(0);
      return false;
    }
    showError("");
    schedulePoll(0);
    refreshUsers();
    return true;
  }

  // --- hot reload ---------------------------------------------------------------------------------

  function showReload(reload) {
    const errors = reload && !reload.ok ? reload.errors || [] : [];
    $("reload-errors").replaceChildren(...errors.map((line) => el("li", null, line)));
    $("reload").hidden = !(reload && !reload.ok);
  }

  async function watchReload() {
    try {
      const { reload } = await api("GET", "/sandbox/status");
      showReload(reload);
      if (reload === null) return; // hot reload is off: nothing will change
    } catch (error) {
      if (error.status === 404) return; // a sandbox without hot reload: nothing to watch
    }
    setTimeout(watchReload, STATUS_MS);
  }

  // --- one message --------------------------------------------------------------------------------

  function renderItem(item) {
    const fromCustomer = item.direction === "in";
    const node = el("li", `message ${fromCustomer ? "from-customer" : "from-bot"}`);
    node.dataset.wamid = item.wamid;
    const bubble = el("div", "bubble");
    node.append(bubble);
    bubble.append(el("span", "visually-hidden", fromCustomer ? "You said:" : "The bot said:"));

    const interactive = !fromCustomer && item.interactive ? item.interactive : null;
    if (item.template) {
      bubble.append(el("div", "tag", `Template · ${item.template.category} · ${item.template.language}`));
    }
    // A template the sandbox knows comes filled in, in parts, as the phone shows it.
    const shown = item.template && typeof item.template.body === "string" ? item.template : null;
    const header = shown ? shown.header : interactive && interactive.header && interactive.header.text;
    if (header) bubble.append(el("div", "bubble-header", header));
    if (item.media) bubble.append(mediaView(item.media));
    if (item.location) bubble.append(locationView(item.location));
    if (shown) bubble.append(el("div", "bubble-text", shown.body));
    else if (!item.location && (item.text || !item.media)) bubble.append(el("div", "bubble-text", item.text ?? `[${item.type}]`));
    const footer = shown ? shown.footer : interactive && interactive.footer && interactive.footer.text;
    if (footer) bubble.append(el("div", "bubble-footer", footer));

    const meta = el("div", "meta");
    meta.append(el("time", "time", time(item.timestamp)));
    meta.lastChild.dateTime = item.timestamp;
    meta.append(el("span", "ticks"));
    bubble.append(meta);
    updateTicks(node, item);

    const actions = actionsFor(item, interactive);
    if (actions) node.append(actions);
    return node;
  }

  function mediaView(media) {
    const box = el("div", `bubble-media media-${media.kind}`);
    const url = media.url;
    if (url && (media.kind === "image" || media.kind === "sticker")) {
      const img = el("img");
      img.alt = media.caption || `${media.kind} ${media.filename || ""}`.trim();
      // A link the page cannot load (an example address, no network) shows as a link to it instead.
      img.addEventListener("error", () => img.replaceWith(fileLink(url, media.filename || `${media.kind} ${url}`)));
      img.src = url;
      box.append(img);
    } else if (url && (media.kind === "audio" || media.kind === "video")) {
      const player = el(media.kind);
      player.src = url;
      player.controls = true;
      player.preload = "metadata";
      box.append(player);
    } else if (url) {
      box.append(fileLink(url, media.filename || media.kind));
    } else {
      box.append(el("span", "file-link", `[${media.kind}${media.id ? ` ${media.id}` : ""}]`));
    }
    return box;
  }

  function fileLink(url, text) {
    const link = el("a", "file-link", text);
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    return link;
  }

  function locationView(place) {
    const box = el("div", "bubble-location");
    box.append(el("span", "tag", "Location"), el("br"));
    if (place.name) box.append(el("strong", null, place.name));
    if (place.address) box.append(el("span", null, ` ${place.address}`));
    const link = el("a", "coordinates", `${place.latitude}, ${place.longitude}`);
    link.href = `https://www.openstreetmap.org/?mlat=${encodeURIComponent(place.latitude)}&mlon=${encodeURIComponent(place.longitude)}`;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    box.append(el("br"), link);
    return box;
  }

  function updateTicks(node, item) {
    const ticks = node.querySelector(".ticks");
    const [symbol, label] = TICKS[item.status] || ["", item.status || ""];
    ticks.textContent = symbol;
    ticks.className = `ticks ${item.status || ""}`;
    ticks.setAttribute("role", "img");
    ticks.setAttribute("aria-label", label);
    ticks.title = label;
  }

  function actionsFor(item, interactive) {
    if (interactive && interactive.type === "button") {
      const buttons = (interactive.action && interactive.action.buttons) || [];
      return replyButtons(buttons.map((b) => [b.reply.id, b.reply.title]), "button");
    }
    if (interactive && interactive.type === "cta_url") {
      return linkButton((interactive.action && interactive.action.parameters) || {});
    }
    if (interactive && interactive.type === "location_request_message") {
      // As the phone does: the button opens the place picker, and the place picked answers the request.
      const box = el("div", "actions");
      const button = el("button", "reply reply-location", "Send location");
      button.type = "button";
      button.addEventListener("click", () => $("location-dialog").showModal());
      box.append(button);
      return box;
    }
    if (interactive && interactive.type === "list") {
      const box = el("div", "actions");
      const open = el("button", "reply list-open", interactive.action.button || "Choose");
      open.type = "button";
      open.setAttribute("aria-haspopup", "dialog");
      open.addEventListener("click", () => openList(interactive, open));
      box.append(open);
      return box;
    }
    if (interactive && interactive.type === "flow") {
      // A WhatsApp Flow: its button opens the form (flow_form.js), drawn from the project's Flow JSON.
      const box = el("div", "actions");
      const open = el("button", "reply flow-open", interactive.action.parameters.flow_cta || "Open");
      open.type = "button";
      open.setAttribute("aria-haspopup", "dialog");
      open.addEventListener("click", () => window.SandboxFlowForm.open(interactive, open, customerSends));
      box.append(open);
      return box;
    }
    if (item.direction === "out" && item.template && item.template.buttons) {
      return templateButtons(item.template.buttons);
    }
    if (item.direction === "out" && item.template && item.template.quick_replies.length) {
      return replyButtons(item.template.quick_replies.map((p) => [p, p]), "button");
    }
    return null;
  }

  // A call-to-action button: a link that opens its https address in a new tab; nothing is sent to the bot.
  function linkButton(parameters) {
    const box = el("div", "actions");
    const link = el("a", "reply reply-url", parameters.display_text || "Open");
    const url = typeof parameters.url === "string" ? parameters.url : "";
    if (url.startsWith("https://")) link.href = url;
    link.title = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    box.append(link);
    return box;
  }

  // A template's buttons: a quick reply sends its payload, a URL opens, a copy-code button copies the code.
  function templateButtons(buttons) {
    if (!buttons.length) return null;
    const box = el("div", "actions");
    for (const spec of buttons) {
      const button = el("button", `reply reply-${spec.type.replace("_", "-")}`, spec.text);
      button.type = "button";
      if (spec.type === "quick_reply") {
        button.addEventListener("click", () => customerSends({ button: spec.payload }));
      } else if (spec.type === "url") {
        button.title = spec.url || "";
        button.addEventListener("click", () => window.open(spec.url, "_blank", "noopener"));
      } else {
        button.addEventListener("click", async () => {
          try {
            await navigator.clipboard.writeText(spec.code || "");
            button.textContent = "Copied";
          } catch {
            button.textContent = spec.code || spec.text;
          }
        });
      }
      box.append(button);
    }
    return box;
  }

  function replyButtons(pairs, kind) {
    const box = el("div", "actions");
    for (const [id, title] of pairs) {
      const button = el("button", "reply", title);
      button.type = "button";
      button.addEventListener("click", () => customerSends({ [kind]: id }));
      box.append(button);
    }
    return box;
  }

  function openList(interactive, opener) {
    const dialog = $("list-dialog");
    $("list-title").textContent = interactive.action.button || "Options";
    const rows = $("list-rows");
    rows.replaceChildren();
    for (const section of interactive.action.sections || []) {
      if (section.title) rows.append(el("h3", "list-section", section.title));
      const list = el("ul", "list-options");
      for (const row of section.rows || []) {
        const button = el("button", "list-row");
        button.type = "button";
        button.append(el("span", "list-row-title", row.title));
        if (row.description) button.append(el("span", "list-row-description", row.description));
        button.addEventListener("click", async () => {
          dialog.close();
          opener.focus();
          await customerSends({ list: row.id });
        });
        const item = el("li");
        item.append(button);
        list.append(item);
      }
      rows.append(list);
    }
    dialog.showModal();
  }

  // --- wiring -------------------------------------------------------------------------------------

  async function loadNumbers() {
    try {
      state.numbers = (await api("GET", "/sandbox/numbers")).items || [];
    } catch (error) {
      state.numbers = [];
    }
    const saved = load("sandbox.business");
    const ids = state.numbers.map((n) => n.id);
    state.business = ids.includes(saved) ? saved : ids[0] || null;
    const select = $("business");
    select.replaceChildren(
      ...state.numbers.map((n) => {
        const option = el("option", null, `${n.display_number}`);
        option.value = n.id;
        option.selected = n.id === state.business;
        return option;
      }),
    );
    $("business-picker").hidden = state.numbers.length < 2;
  }

  function start() {
    $("business").addEventListener("change", () => {
      state.business = $("business").value;
      save("sandbox.business", state.business);
      if (state.waId) openChat(state.waId);
    });
    $("number-form").addEventListener("submit", (event) => {
      event.preventDefault();
      openChat($("number").value);
    });
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("message");
      const text = input.value;
      if (!text.trim()) return;
      input.value = "";
      if (!(await customerSends({ text }))) input.value = input.value || text;
      input.focus();
    });
    $("name").addEventListener("change", () => save("sandbox.name", $("name").value.trim()));
    $("attach").addEventListener("change", async () => {
      const input = $("attach");
      const file = input.files && input.files[0];
      input.value = "";
      if (file) await customerSendsFile(file);
    });
    $("location-open").addEventListener("click", () => $("location-dialog").showModal());
    $("location-close").addEventListener("click", () => $("location-dialog").close());
    $("location-preset").addEventListener("change", () => {
      const [lat, lon, name, ...address] = $("location-preset").value.split(",");
      $("latitude").value = lat || "";
      $("longitude").value = lon || "";
      $("place-name").value = name || "";
      $("place-address").value = address.join(",").trim();
    });
    $("location-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const location = { latitude: $("latitude").value.trim(), longitude: $("longitude").value.trim() };
      const name = $("place-name").value.trim();
      const address = $("place-address").value.trim();
      if (name) location.name = name;
      if (address) location.address = address;
      if (await customerSends({ location })) $("location-dialog").close();
    });
    $("list-close").addEventListener("click", () => $("list-dialog").close());
    $("flow-close").addEventListener("click", () => $("flow-dialog").close());
    $("name").value = load("sandbox.name") || "";
    const saved = load("sandbox.number");
    renderChats();
    refreshUsers();
    watchReload();
    loadNumbers().then(() => {
      if (saved) {
        $("number").value = saved;
        openChat(saved);
      }
    });
  }

  start();
})();
