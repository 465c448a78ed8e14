//! Undoing the usual evasions before anything is matched, while remembering where each character came from so a
//! finding can point at the original text.
//!
//! Two views of a message: [`Normalised::plain`] drops invisible characters, folds full-width forms to ASCII and
//! lower-cases; [`Normalised::skeleton`] also maps look-alike letters from other scripts (Cyrillic `а`, Greek `ο`,
//! ...) to the Latin letter they imitate, so `pаynow` and `раlisade.sg` read as what they pretend to be.

use std::ops::Range;

/// A normalised view and, for each of its bytes, the byte range of the original character it came from.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub text: String,
    origin: Vec<Range<usize>>,
}

impl View {
    fn push(&mut self, c: char, from: Range<usize>) {
        for _ in 0..c.len_utf8() {
            self.origin.push(from.clone());
        }
        self.text.push(c);
    }

    /// The original byte range behind `r` (a byte range of this view).
    pub fn original(&self, r: Range<usize>) -> Range<usize> {
        let start = self.origin.get(r.start).map_or(0, |o| o.start);
        let end = r.end.checked_sub(1).and_then(|i| self.origin.get(i)).map_or(start, |o| o.end);
        start..end.max(start)
    }
}

/// The two views of one message.
#[derive(Debug, Clone, Default)]
pub struct Normalised {
    pub plain: View,
    pub skeleton: View,
}

/// Characters that render as nothing and are used to split words a filter looks for.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FE00}'..='\u{FE0F}')
}

/// Full-width ASCII (`９１２３`, `ｗｈａｔｓａｐｐ`) and the ideographic space, folded to ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        // Mathematical digits (𝟗, 𝟡, 𝟫, ...), pasted from "fancy text" generators.
        '\u{1D7CE}'..='\u{1D7FF}' => char::from_digit((u32::from(c) - 0x1D7CE) % 10, 10).unwrap_or(c),
        _ => c,
    }
}

/// Letters from other scripts that look like Latin ones (lower case; the text is lower-cased first).
pub fn homoglyph(c: char) -> char {
    match c {
        'а' | 'α' | 'ɑ' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' | 'ё' => 'e',
        'һ' => 'h',
        'і' | 'ι' | 'ı' | 'ї' => 'i',
        'ј' => 'j',
        'κ' | 'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'η' | 'п' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'ս' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'ᴢ' => 'z',
        _ => c,
    }
}

/// Both views of `text`.
pub fn normalise(text: &str) -> Normalised {
    let mut n = Normalised::default();
    for (i, c) in text.char_indices() {
        if invisible(c) {
            continue;
        }
        let from = i..i + c.len_utf8();
        for lower in fold_width(c).to_lowercase() {
            n.plain.push(lower, from.clone());
            n.skeleton.push(homoglyph(lower), from.clone());
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evasions_are_undone_and_spans_point_at_the_original() {
        let s = "Ｗｈａｔｓ\u{200B}app ９１２３ pаynow";
        let n = normalise(s);
        assert_eq!(n.plain.text, "whatsapp 9123 pаynow");
        assert_eq!(n.skeleton.text, "whatsapp 9123 paynow");
        let at = n.skeleton.text.find("9123").unwrap();
        let orig = n.skeleton.original(at..at + 4);
        assert_eq!(&s[orig], "９１２３");
        let at = n.skeleton.text.find("paynow").unwrap();
        assert_eq!(&s[n.skeleton.original(at..at + 6)], "pаynow");
        assert_eq!(n.plain.original(0..0), 0..0);
    }
}
