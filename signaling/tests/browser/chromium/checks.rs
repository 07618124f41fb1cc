//! WCAG 2.1 AA basics checked in the real page: accessible names of
//! controls (from Chromium's accessibility tree) and text contrast.

use super::page::Page;
use crate::window::Window;
use serde_json::json;

/// The WCAG 2.1 contrast computation, run in the page; returns the failures.
const CONTRAST_CHECK: &str = r#"(() => {
  const rgba = (c) => { const m = c.match(/[\d.]+/g) || [0, 0, 0, 0]; return [+m[0], +m[1], +m[2], m[3] === undefined ? 1 : +m[3]]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] >= 0.5) return c; } return [255, 255, 255, 1]; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    if (el.closest('[hidden], video, audio, option') || el.disabled || el.closest('button[disabled]')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.getClientRects().length === 0) continue;
    const fg = rgba(style.color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = +style.fontWeight >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}:1 < ${need}:1`);
  }
  return out;
})()"#;

impl Page {
    /// Controls a screen reader would announce without a name: every
    /// button, field, list box and checkbox on the page that is not hidden
    /// must have an accessible name (its text, label or `aria-label`), as
    /// Chromium's accessibility tree computes it.
    pub async fn unnamed_controls(&self) -> Vec<String> {
        let tree = self.call("Accessibility.getFullAXTree", json!({})).await;
        let controls = [
            "button",
            "textbox",
            "combobox",
            "checkbox",
            "spinbutton",
            "listbox",
            "link",
        ];
        tree["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter(|n| n["ignored"] != json!(true))
                    .filter(|n| {
                        n["role"]["value"]
                            .as_str()
                            .is_some_and(|r| controls.contains(&r))
                    })
                    .filter(|n| n["name"]["value"].as_str().unwrap_or("").trim().is_empty())
                    .map(|n| format!("{} (node {})", n["role"]["value"], n["backendDOMNodeId"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails unless every visible control has an accessible name.
    pub async fn assert_controls_named(&self, screen: &str) {
        let unnamed = self.unnamed_controls().await;
        assert!(
            unnamed.is_empty(),
            "[{}] controls without an accessible name on the {screen} screen: {unnamed:?}",
            self.name
        );
    }

    /// Visible text whose contrast with its background is below WCAG 2.1
    /// AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). The
    /// background is the nearest ancestor's background colour that is at
    /// least half opaque; text of disabled controls is exempt, as in WCAG.
    pub async fn low_contrast_text(&self) -> Vec<String> {
        let found = self.eval(CONTRAST_CHECK).await;
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails if any visible text is below WCAG 2.1 AA contrast.
    pub async fn assert_contrast(&self, screen: &str) {
        let low = self.low_contrast_text().await;
        assert!(
            low.is_empty(),
            "[{}] text below AA contrast on the {screen} screen: {low:?}",
            self.name
        );
    }
}
