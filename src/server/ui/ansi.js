// ANSI SGR colour codes to styled spans, for build logs. Streaming: text arrives in chunks that may split an
// escape sequence, so an unfinished one is held until the next chunk. Everything is inserted as text nodes
// (never as HTML): a build log is untrusted input.
"use strict";

(function () {
  const ESC = "\u001b";

  // xterm's 256-colour palette entries 16–255 as CSS colours.
  function paletteColour(n) {
    if (n < 16) return null; // handled by classes
    if (n >= 232) {
      const v = 8 + (n - 232) * 10;
      return `rgb(${v},${v},${v})`;
    }
    const i = n - 16;
    const level = (c) => (c === 0 ? 0 : 55 + c * 40);
    return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
  }

  class AnsiRenderer {
    constructor(target) {
      this.target = target;
      this.pending = "";
      this.reset();
    }

    reset() {
      this.bold = false; this.dim = false; this.italic = false; this.underline = false;
      this.fg = null; this.bg = null; // {cls: n} or {css: "rgb(...)"}
    }

    clear() {
      this.target.textContent = "";
      this.pending = "";
      this.reset();
    }

    // Appends `text` (a chunk of the log).
    push(text) {
      let input = this.pending + text;
      this.pending = "";
      let run = "";
      let i = 0;
      const fragment = document.createDocumentFragment();
      while (i < input.length) {
        const esc = input.indexOf(ESC, i);
        if (esc < 0) { run += input.slice(i); break; }
        run += input.slice(i, esc);
        const seq = this.parseEscape(input, esc);
        if (seq === null) { // unfinished: keep for the next chunk
          this.pending = input.slice(esc);
          break;
        }
        if (seq.sgr !== undefined) {
          this.flush(fragment, run); run = "";
          this.applySgr(seq.sgr);
        }
        i = seq.end;
      }
      this.flush(fragment, run);
      this.target.appendChild(fragment);
    }

    // Returns {end, sgr?} for the sequence at `at`, or null when the input ends inside it.
    parseEscape(input, at) {
      if (at + 1 >= input.length) return null;
      const kind = input[at + 1];
      if (kind === "[") { // CSI: parameters, then a final byte in @–~
        let j = at + 2;
        while (j < input.length) {
          const c = input.charCodeAt(j);
          if (c >= 0x40 && c <= 0x7e) {
            const end = j + 1;
            return input[j] === "m" ? { end, sgr: input.slice(at + 2, j) } : { end };
          }
          j++;
        }
        return input.length - at > 64 ? { end: input.length } : null;
      }
      if (kind === "]") { // OSC (window titles, hyperlinks): ends with BEL or ESC \
        const bel = input.indexOf("\u0007", at);
        const st = input.indexOf(ESC + "\\", at + 2);
        const ends = [bel >= 0 ? bel + 1 : -1, st >= 0 ? st + 2 : -1].filter((e) => e > 0);
        if (ends.length) return { end: Math.min(...ends) };
        return input.length - at > 4096 ? { end: input.length } : null;
      }
      return { end: at + 2 }; // two-byte escapes: drop
    }

    applySgr(params) {
      const codes = params === "" ? [0] : params.split(";").map((p) => parseInt(p || "0", 10));
      for (let k = 0; k < codes.length; k++) {
        const c = codes[k];
        if (c === 0) this.reset();
        else if (c === 1) this.bold = true;
        else if (c === 2) this.dim = true;
        else if (c === 3) this.italic = true;
        else if (c === 4) this.underline = true;
        else if (c === 22) { this.bold = false; this.dim = false; }
        else if (c === 23) this.italic = false;
        else if (c === 24) this.underline = false;
        else if (c >= 30 && c <= 37) this.fg = { cls: c - 30 };
        else if (c >= 90 && c <= 97) this.fg = { cls: c - 90 + 8 };
        else if (c === 39) this.fg = null;
        else if (c >= 40 && c <= 47) this.bg = { cls: c - 40 };
        else if (c >= 100 && c <= 107) this.bg = { cls: c - 100 + 8 };
        else if (c === 49) this.bg = null;
        else if (c === 38 || c === 48) {
          let colour = null;
          if (codes[k + 1] === 5 && k + 2 < codes.length) {
            const n = codes[k + 2];
            colour = n < 16 ? { cls: n } : { css: paletteColour(n) };
            k += 2;
          } else if (codes[k + 1] === 2 && k + 4 < codes.length) {
            colour = { css: `rgb(${codes[k + 2]},${codes[k + 3]},${codes[k + 4]})` };
            k += 4;
          }
          if (c === 38) this.fg = colour; else this.bg = colour;
        }
      }
    }

    flush(fragment, text) {
      if (!text) return;
      const plain = !this.bold && !this.dim && !this.italic && !this.underline && !this.fg && !this.bg;
      if (plain) { fragment.appendChild(document.createTextNode(text)); return; }
      const span = document.createElement("span");
      if (this.bold) span.classList.add("ansi-bold");
      if (this.dim) span.classList.add("ansi-dim");
      if (this.italic) span.classList.add("ansi-italic");
      if (this.underline) span.classList.add("ansi-underline");
      if (this.fg) { if (this.fg.css) span.style.color = this.fg.css; else span.classList.add("ansi-fg-" + this.fg.cls); }
      if (this.bg) { if (this.bg.css) span.style.background = this.bg.css; else span.classList.add("ansi-bg-" + this.bg.cls); }
      span.textContent = text;
      fragment.appendChild(span);
    }
  }

  window.AnsiRenderer = AnsiRenderer;
})();
