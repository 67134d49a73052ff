// warmserve status page. Renders GET status.json (nothing else) every few seconds.
// Every text from the server goes through textContent: no markup is built from strings.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const page = { refresh: 2, formKey: null, timer: null, tokenRequired: false, renders: 0 };

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  const localTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const show = (value) => (value === null || value === undefined || value === "" ? "–" : String(value));

  // --- polling ---------------------------------------------------------------------
  async function refresh() {
    clearTimeout(page.timer);
    try {
      const response = await fetch("status.json", { cache: "no-store" });
      render(await response.json());
      $("updated").textContent = `updated ${new Date().toLocaleTimeString()}, every ${page.refresh} s`;
      $("updated").classList.remove("stale");
    } catch (err) {
      $("updated").textContent = `cannot reach the server (${err.message}); retrying`;
      $("updated").classList.add("stale");
    }
    page.timer = setTimeout(refresh, page.refresh * 1000);
  }

  function render(data) {
    const asked = Number(new URLSearchParams(location.search).get("refresh")); // ?refresh=S
    page.refresh = asked >= 0.5 ? asked : data.page.refresh_seconds;
    page.tokenRequired = data.page.admin_token_required;
    $("token-label").hidden = !page.tokenRequired;
    renderAvailability(data);
    renderModel(data);
    renderForm(data.form);
    renderCharts(data.charts, data.page);
    renderHistory(data.history);
    renderTrainer(data.trainer);
    document.body.dataset.version = data.model ? data.model.version : "";
    document.body.dataset.renders = String(++page.renders); // tests wait for a whole refresh
  }

  // --- what is served --------------------------------------------------------------
  function renderAvailability(data) {
    const banner = $("availability");
    banner.textContent = data.availability.message;
    banner.className = `banner ${data.availability.ready ? "ready" : "not-ready"}`;
    banner.dataset.reason = data.availability.reason;
    const model = data.model;
    $("headline").textContent = model
      ? `${show(model.name)} version ${model.version}${model.alias ? " @" + model.alias : ""}`
      : "no model served";
  }

  function linkOrText(text, href) {
    return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text }) : text;
  }

  function renderModel(data) {
    const model = data.model;
    const rows = [["source", data.source]];
    if (model) {
      rows.push(
        ["name", linkOrText(show(model.name), data.links.model_version)],
        ["version", model.version],
        ["alias", model.alias],
        ["run id", linkOrText(show(model.run_id), data.links.run)],
        ["loaded at", localTime(model.loaded_at)],
        ["load time", `${model.load_seconds} s`],
        ["predictor", model.predictor ? model.predictor.name : null],
      );
    }
    if (data.runner) rows.push(["queued now", data.runner.queued], ["batches", data.runner.batches]);
    rows.push(["predictions served", data.totals.predictions_served]);
    $("model").replaceChildren(
      ...rows.flatMap(([key, value]) => [
        el("dt", { text: key }),
        el("dd", {}, value instanceof Node ? value : show(value)),
      ]),
    );
    renderSignature(model ? model.signature.inputs || [] : []);
  }

  function renderSignature(inputs) {
    const head = el("tr", {}, el("th", { text: "column" }), el("th", { text: "type" }),
      el("th", { text: "required" }));
    const rows = inputs.map((col) => {
      const spec = col["tensor-spec"];
      const type = spec ? `tensor ${spec.dtype} ${JSON.stringify(spec.shape)}` : col.type;
      return el("tr", {}, el("td", { text: show(col.name) }), el("td", { text: show(type) }),
        el("td", { text: col.required === false ? "no" : "yes" }));
    });
    $("signature").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }

  // --- reload ----------------------------------------------------------------------
  async function reload(event) {
    event.preventDefault();
    const result = $("reload-result");
    const headers = {};
    const token = $("token").value;
    if (token) headers.Authorization = `Bearer ${token}`;
    $("reload").disabled = true;
    result.className = "result";
    result.textContent = "checking the model source…";
    try {
      const response = await fetch("reload?wait=true", { method: "POST", headers });
      const body = await response.json();
      if (response.ok) {
        result.className = `result ${body.error ? "error" : "ok"}`;
        result.textContent = `Checked: serving version ${show(body.version)}` +
          (body.error ? ` (${body.error})` : ".");
      } else {
        result.className = "result error";
        result.textContent = `${response.status} ${body.error_code}: ${body.message}`;
      }
    } catch (err) {
      result.className = "result error";
      result.textContent = `the check failed: ${err.message}`;
    } finally {
      $("reload").disabled = false;
    }
    refresh();
  }

  // --- try it ----------------------------------------------------------------------
  function renderForm(form) {
    $("try-form").hidden = !form;
    $("try-note").hidden = Boolean(form);
    if (!form) {
      page.formKey = null;
      return;
    }
    $("try-form").dataset.version = form.version;
    if (form.key === page.formKey) return; // same signature: keep what the user typed
    page.formKey = form.key;
    $("try-form").dataset.kind = form.kind;
    if (form.kind === "json") {
      const box = el("textarea", { id: "try-json", name: "body", spellcheck: "false" });
      box.value = JSON.stringify(form.example, null, 2);
      $("try-fields").replaceChildren(el("label", { text: "Request body (JSON)" }), box);
      return;
    }
    $("try-fields").replaceChildren(...form.fields.map(field));
  }

  function field(spec) {
    let input;
    if (spec.field === "boolean") {
      input = el("select", {}, el("option", { value: "", text: "" }),
        el("option", { value: "true", text: "true" }), el("option", { value: "false", text: "false" }));
      input.value = spec.value === null || spec.value === undefined ? "" : String(spec.value);
    } else {
      input = el("input", { type: "text", spellcheck: "false" });
      if (spec.field !== "text") input.setAttribute("inputmode", "decimal");
      input.value = spec.value === null || spec.value === undefined ? "" : String(spec.value);
    }
    input.name = spec.name;
    input.dataset.field = spec.field;
    input.id = `try-${spec.name}`;
    const label = el("label", { for: input.id, text: spec.name },
      el("span", { className: "type", text: ` ${spec.type}${spec.required ? "" : ", optional"}` }));
    return el("div", { className: "field" }, label, input);
  }

  // A value that does not parse is sent as typed: the server's answer says what is wrong.
  function typed(input) {
    const text = input.value.trim();
    if (input.dataset.field === "boolean") return text === "true";
    if (input.dataset.field === "integer" && /^[-+]?\d+$/.test(text)) return Number(text);
    if (input.dataset.field === "number" && text !== "" && Number.isFinite(Number(text))) return Number(text);
    return input.value;
  }

  function requestBody() {
    if ($("try-form").dataset.kind === "json") return $("try-json").value;
    const inputs = [...$("try-fields").querySelectorAll("input, select")].filter((i) => i.value !== "");
    return JSON.stringify({
      dataframe_split: { columns: inputs.map((i) => i.name), data: [inputs.map(typed)] },
    });
  }

  async function tryIt(event) {
    event.preventDefault();
    $("try-send").disabled = true;
    const started = performance.now();
    try {
      const response = await fetch("invocations", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: requestBody(),
      });
      const text = await response.text();
      const elapsed = performance.now() - started;
      let body;
      try { body = JSON.parse(text); } catch { body = text; }
      $("try-status").textContent = String(response.status);
      $("try-version").textContent = show(response.headers.get("X-Model-Version"));
      $("try-latency").textContent = `${elapsed.toFixed(1)} ms`;
      const answer = $("try-answer");
      if (response.ok) {
        answer.className = "ok";
        answer.textContent = JSON.stringify(body.predictions, null, 2);
      } else {
        answer.className = "error";
        answer.textContent = body && body.message ? `${body.error_code}: ${body.message}` : String(body);
      }
    } catch (err) {
      $("try-status").textContent = "no answer";
      $("try-answer").className = "error";
      $("try-answer").textContent = err.message;
    } finally {
      $("try-result").hidden = false;
      $("try-send").disabled = false;
    }
  }

  // --- charts ----------------------------------------------------------------------
  const CHARTS = [
    { id: "requests", title: "Prediction requests / s", pick: (c) => c.requests_per_second, unit: "" },
    { id: "latency", title: "Latency (ms)", pick: (c) => c.latency_ms, unit: "" },
    { id: "rows", title: "Rows per predict call", pick: (c) => ({ rows: c.rows_per_call }), unit: "" },
    { id: "queue", title: "Queue depth", pick: (c) => ({ queued: c.queue_depth }), unit: "" },
    { id: "cache", title: "Cache hit rate (%)",
      pick: (c) => ({ hit: c.cache_hit_rate.map((v) => (v === null ? null : v * 100)) }), unit: "" },
    { id: "inflight", title: "In-flight requests", pick: (c) => ({ "in flight": c.in_flight }), unit: "" },
  ];
  const W = 300, H = 130, LEFT = 34, BOTTOM = 16;

  function renderCharts(charts, info) {
    const minutes = charts.time.length ? (charts.time.at(-1) - charts.time[0]) / 60 : 0;
    $("charts-window").textContent = `(last ${minutes.toFixed(1)} min, totals over all ${info.workers} worker(s))`;
    $("charts").replaceChildren(...CHARTS.map((spec) => chart(spec, charts.time, spec.pick(charts))));
  }

  function chart(spec, times, named) {
    const values = Object.values(named).flat().filter((v) => v !== null);
    const highest = Math.max(0, ...values);
    const top = (highest > 0 ? highest : 1) * 1.1;
    const t0 = times[0] || 0, t1 = times.at(-1) || 1;
    const x = (t) => LEFT + ((t - t0) / Math.max(1e-9, t1 - t0)) * (W - LEFT - 4);
    const y = (v) => H - BOTTOM - (v / top) * (H - BOTTOM - 6);
    const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    box.append(svg("line", { class: "axis", x1: LEFT, y1: H - BOTTOM, x2: W, y2: H - BOTTOM }));
    const label = (text, ty) => {
      const node = svg("text", { class: "tick", x: 2, y: ty });
      node.textContent = text;
      return node;
    };
    box.append(label(highest > 0 ? Number(highest.toPrecision(3)).toString() : "", 12),
      label("0", H - BOTTOM));
    const legend = el("div", { className: "legend" });
    Object.entries(named).forEach(([name, points], index) => {
      let d = "", pen = "M", count = 0, max = null;
      points.forEach((v, i) => {
        if (v === null || times[i] === undefined) { pen = "M"; return; }
        const px = x(times[i]).toFixed(1), py = y(v).toFixed(1);
        const alone = pen === "M" && (points[i + 1] === null || points[i + 1] === undefined);
        d += alone ? `M${px},${py} l0.1,0 ` : `${pen}${px},${py} `; // a lone point: a dot
        pen = "L";
        count += 1;
        max = max === null ? v : Math.max(max, v);
      });
      const path = svg("path", { class: `line c${index}`, d: d || "M0,0" });
      path.dataset.name = name;
      path.dataset.points = String(count);
      path.dataset.max = max === null ? "" : String(max);
      box.append(path);
      const last = points.filter((v) => v !== null).at(-1);
      legend.append(el("span", {}, el("i", { className: `key c${index}` }),
        `${name} ${last === undefined ? "–" : Number(last.toPrecision(3))}`));
    });
    const node = el("div", { className: "chart", id: `chart-${spec.id}` }, el("h3", { text: spec.title }), box, legend);
    node.dataset.points = String(times.length);
    return node;
  }

  // --- history and trainer ---------------------------------------------------------
  function renderHistory(history) {
    const items = history.map((entry) => {
      const item = el("li", {}, el("time", { datetime: entry.time, text: localTime(entry.time) }),
        el("span", { className: `kind ${entry.kind}`, text: entry.kind.replace("_", " ") }),
        entry.summary);
      item.dataset.kind = entry.kind;
      if (entry.version) item.dataset.version = entry.version;
      return item;
    });
    if (!items.length) items.push(el("li", { className: "muted", text: "nothing has happened yet" }));
    $("history").replaceChildren(...items);
  }

  function renderTrainer(trainer) {
    $("trainer-section").hidden = !trainer;
    if (!trainer) return;
    $("trainer-url").textContent = trainer.url;
    $("trainer-error").hidden = !trainer.error;
    $("trainer-error").textContent = trainer.error || "";
    const columns = ["id", "state", "version", "decision", "reason", "metrics", "updated"];
    const cell = (job, name) => {
      const value = job[name];
      if (value && typeof value === "object") {
        return Object.entries(value).map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toPrecision(4)) : v}`).join(", ");
      }
      return name === "updated" ? localTime(value) : show(value);
    };
    const head = el("tr", {}, ...columns.map((name) => el("th", { text: name })));
    const rows = trainer.jobs.map((job) => el("tr", {}, ...columns.map((name) => el("td", { text: cell(job, name) }))));
    $("trainer-jobs").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("reload-form").addEventListener("submit", reload);
    $("try-form").addEventListener("submit", tryIt);
    refresh();
  });
})();
