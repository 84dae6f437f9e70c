/* aggregator embed widget: the latest items of a timeline, rendered where this script is.
 *
 *   <script src="https://news.example.org/fl/embed.js" data-tag="child-labour"
 *           data-limit="5" data-lang="fr" async></script>
 *
 * Reads <folder of this script>/feed.json, or tags/<slug of data-tag>/feed.json, with a
 * CORS fetch. data-lang keeps the items whose JSON Feed `language` (else the feed's)
 * matches; when no item carries a language it uses the tags/<lang>/ timeline instead.
 * The rules are in docs/CLI.md ("embed.js"). Plain ES2018, no dependencies, no build.
 * Item text is only ever set as textContent; only http(s) links are kept. Styles live in
 * a shadow root, so the host page's CSS does not reach in and ours does not leak out.
 */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.src) return;
  const base = new URL(".", script.src);
  const data = script.dataset;
  // The same slug as the tag pages (aggregator.publish.common.tag_slug).
  const slug = (s) =>
    String(s).normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  const tag = slug(data.tag || "");
  const lang = (data.lang || "").trim().toLowerCase();
  const limit = Math.min(Math.max(parseInt(data.limit, 10) || 5, 1), 50);
  const folder = (s) => (s ? new URL(`tags/${s}/`, base) : base);

  const httpUrl = (value) => {
    if (typeof value !== "string") return null;
    try {
      const url = new URL(value, base);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  };
  const speaks = (value) => {
    const v = String(value || "").toLowerCase();
    return v === lang || v.startsWith(lang + "-");
  };
  const load = async (s) => {
    const response = await fetch(new URL("feed.json", folder(s)), {
      mode: "cors",
      credentials: "omit",
    });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const feed = await response.json();
    if (!feed || !Array.isArray(feed.items)) throw new Error("not a JSON Feed");
    feed.items = feed.items.filter((i) => i && typeof i === "object");
    return feed;
  };

  async function choose() {
    let page = folder(tag);
    const feed = await load(tag);
    if (!feed) return { page, title: "", items: [] };
    let items = feed.items;
    if (lang) {
      if (items.some((i) => i.language)) {
        items = items.filter((i) => speaks(i.language || feed.language));
      } else {
        const byLang = await load(slug(lang));
        if (byLang && tag) {
          const ids = new Set(byLang.items.map((i) => i.id));
          items = items.filter((i) => ids.has(i.id));
        } else if (byLang) {
          items = byLang.items;
          page = folder(slug(lang));
        } else if (!speaks(feed.language)) {
          items = [];
        }
      }
    }
    return { page, title: String(feed.title || ""), items: items.slice(0, limit) };
  }

  const el = (name, className, text) => {
    const node = document.createElement(name);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const link = (href, text) => {
    const url = httpUrl(href);
    const node = el(url ? "a" : "span", "", text);
    if (url) node.href = url;
    return node;
  };
  const day = (value) => {
    const date = new Date(value);
    if (isNaN(date)) return "";
    const options = { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" };
    try {
      return date.toLocaleDateString(lang || document.documentElement.lang || undefined, options);
    } catch (e) {
      return date.toLocaleDateString(undefined, options);
    }
  };

  const host = el("div", "aggregator-embed");
  // In place, right after the script; from <head>, at the start of the body.
  if (script.parentNode && script.parentNode !== document.head) {
    script.parentNode.insertBefore(host, script.nextSibling);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => document.body.prepend(host));
  } else {
    document.body.prepend(host);
  }
  const root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", "", `
:host { display: block; }
.w { all: initial; display: block; box-sizing: border-box; max-width: 100%;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif;
  color: #1b1b1b; background: #fff; border: 1px solid #d4d4d4; border-radius: 6px;
  padding: 12px 14px; text-align: left; }
ul { list-style: none; margin: 0; padding: 0; }
li { display: block; margin: 0; padding: 8px 0; border-bottom: 1px solid #e4e4e4; }
a { color: #0b50b4; text-decoration: underline; text-underline-offset: 2px; }
a:focus-visible { outline: 3px solid #b35c00; outline-offset: 2px; }
.t { display: block; font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.m { display: block; margin-top: 2px; font-size: 13px; color: #4d4d4d; }
.s { margin: 8px 0 0; font-size: 13px; color: #4d4d4d; }
.more { display: block; margin-top: 10px; font-size: 14px; }
`));
  const box = el("section", "w");
  box.setAttribute("part", "widget");
  const list = el("ul");
  const status = el("p", "s", "Loading the latest news…");
  status.setAttribute("role", "status");
  const more = link(folder(tag).href, "More news");
  more.classList.add("more");
  box.append(list, status, more);
  root.appendChild(box);

  choose().then(({ page, title, items }) => {
    for (const item of items) {
      const row = el("li");
      const name = item.title || item.summary || "(untitled)";
      const head = link(item.url, name);
      head.classList.add("t");
      const meta = el("span", "m");
      const when = day(item.date_published);
      if (when) {
        const time = el("time", "", when);
        time.dateTime = String(item.date_published);
        meta.append(time);
      }
      const ext = item._aggregator;
      const first = ext && Array.isArray(ext.sources) && ext.sources[0];
      if (first && first.name) meta.append(`${when ? " · " : ""}${first.name}`);
      row.append(head, meta);
      list.append(row);
    }
    if (items.length) status.remove();
    else status.textContent = "No news yet.";
    const url = httpUrl(page.href);
    if (url) more.href = url;
    more.textContent = title ? `More news: ${title}` : "More news";
  }).catch(() => {
    status.textContent = "The news could not be loaded.";
  });
})();
