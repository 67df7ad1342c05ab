//! The tokenizer of `.PackageInfo` files (`BPackageInfo::Parser::_NextToken` in Haiku's
//! `src/kits/package/PackageInfoParser.cpp`).
//!
//! It differs from driver_settings (see [`crate::haiku::driver_settings`]) in ways that matter for
//! real files, which is why it is its own lexer:
//! - the comparison operators `<`, `<=`, `=`, `==`, `!=`, `>=`, `>` are tokens of their own and end a
//!   word, so `haiku>=r1~beta4` is three tokens;
//! - quotes may start anywhere in a word (`a"b c"d` is one word `ab cd`), and inside quotes `\n` and
//!   `\t` mean newline and tab;
//! - a newline or `;` between words is an item-separator token (consecutive ones collapse into one);
//!   like Haiku, a `;` inside a word (`a;b`) belongs to the word; a `\` just before a newline joins
//!   the lines.

/// A token and where it starts (byte offset), so the parser can rewind and report lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What was read.
    pub kind: TokenKind,
    /// Byte offset of the token's first character.
    pub pos: usize,
}

/// The kinds of tokens (`TOKEN_*` in `PackageInfoParser.h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A word, unquoted and unescaped.
    Word(String),
    /// `=`
    Assign,
    /// `<`
    Less,
    /// `<=`
    LessEqual,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `>=`
    GreaterEqual,
    /// `>`
    Greater,
    /// `{`
    OpenBrace,
    /// `}`
    CloseBrace,
    /// One or more newlines / `;`.
    ItemSeparator,
    /// End of the text.
    Eof,
}

/// A lexical error: message and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What is wrong.
    pub message: String,
    /// Byte offset of the problem.
    pub pos: usize,
}

/// Tokenizer over the whole file text.
#[derive(Debug)]
pub struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text: text.as_bytes(),
            pos: 0,
        }
    }

    /// Moves back to the start of `token`, so it is read again (`_RewindTo`).
    pub fn rewind_to(&mut self, token: &Token) {
        self.pos = token.pos;
    }

    /// Current byte offset (used for "missing attribute" errors at the end of the file).
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn at(&self, offset: usize) -> u8 {
        self.text.get(self.pos + offset).copied().unwrap_or(0)
    }

    /// Reads the next token.
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        let mut separator = None;
        let mut in_comment = false;
        loop {
            let c = self.at(0);
            if c == 0 {
                break;
            }
            if in_comment {
                if c == b'\n' {
                    separator = Some(self.pos);
                    in_comment = false;
                }
                self.pos += 1;
                continue;
            }
            match c {
                b'#' => in_comment = true,
                b'\\' if self.at(1) == b'\n' => self.pos += 1, // escaped line break: ignored
                b'\\' => break,
                b'\n' | b';' => separator = Some(self.pos),
                c if c.is_ascii_whitespace() || c == 0x0b => {}
                _ => break,
            }
            self.pos += 1;
        }
        if let Some(pos) = separator {
            return Ok(Token {
                kind: TokenKind::ItemSeparator,
                pos,
            });
        }
        let start = self.pos;
        let two = |lexer: &mut Lexer, single: TokenKind, double: TokenKind| {
            if lexer.at(1) == b'=' {
                lexer.pos += 2;
                double
            } else {
                lexer.pos += 1;
                single
            }
        };
        let kind = match self.at(0) {
            0 => TokenKind::Eof,
            b'{' => {
                self.pos += 1;
                TokenKind::OpenBrace
            }
            b'}' => {
                self.pos += 1;
                TokenKind::CloseBrace
            }
            b'<' => two(self, TokenKind::Less, TokenKind::LessEqual),
            b'>' => two(self, TokenKind::Greater, TokenKind::GreaterEqual),
            b'=' => two(self, TokenKind::Assign, TokenKind::Equal),
            b'!' if self.at(1) == b'=' => {
                self.pos += 2;
                TokenKind::NotEqual
            }
            b'!' => {
                return Err(LexError {
                    message: "unknown token '!' encountered".into(),
                    pos: start,
                })
            }
            _ => TokenKind::Word(self.word(start)?),
        };
        Ok(Token { kind, pos: start })
    }

    /// Reads a word made of unquoted and quoted segments.
    fn word(&mut self, start: usize) -> Result<String, LexError> {
        let mut bytes = Vec::new();
        let mut quote = None;
        loop {
            let c = self.at(0);
            if c == 0 {
                if quote.is_some() {
                    return Err(LexError {
                        message: "unterminated quoted-string".into(),
                        pos: start,
                    });
                }
                break;
            }
            if let Some(q) = quote {
                self.pos += 1;
                if c == q {
                    quote = None;
                    continue;
                }
                let c = if c == b'\\' {
                    let escaped = self.at(0);
                    if escaped == 0 {
                        return Err(LexError {
                            message: "unterminated quoted-string".into(),
                            pos: start,
                        });
                    }
                    self.pos += 1;
                    match escaped {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    }
                } else {
                    c
                };
                bytes.push(c);
                continue;
            }
            match c {
                b'"' | b'\'' => {
                    quote = Some(c);
                    self.pos += 1;
                }
                b'{' | b'}' | b'<' | b'=' | b'!' | b'>' => break,
                b'\\' => {
                    let escaped = self.at(1);
                    if escaped == 0 {
                        return Err(LexError {
                            message: "'\\' at end of string".into(),
                            pos: start,
                        });
                    }
                    bytes.push(escaped);
                    self.pos += 2;
                }
                c if c.is_ascii_whitespace() || c == 0x0b => break,
                c => {
                    bytes.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token().unwrap();
            let done = token.kind == Eof;
            out.push(token.kind);
            if done {
                return out;
            }
        }
    }

    fn w(s: &str) -> TokenKind {
        Word(s.into())
    }

    #[test]
    fn operators_split_words() {
        assert_eq!(
            kinds("haiku>=r1~beta4 lib:x<2 a==1 b!=2 c<=3 d>4 e=5"),
            [
                w("haiku"),
                GreaterEqual,
                w("r1~beta4"),
                w("lib:x"),
                Less,
                w("2"),
                w("a"),
                Equal,
                w("1"),
                w("b"),
                NotEqual,
                w("2"),
                w("c"),
                LessEqual,
                w("3"),
                w("d"),
                Greater,
                w("4"),
                w("e"),
                Assign,
                w("5"),
                Eof
            ]
        );
    }

    #[test]
    fn quotes_escapes_comments_and_separators() {
        assert_eq!(
            kinds("a\"b c\"d 'x\\ty'\n\n# comment ; here\nq\\ r ;\\\ns {} t;u"),
            [
                w("ab cd"),
                w("x\ty"),
                ItemSeparator,
                w("q r"),
                ItemSeparator,
                w("s"),
                OpenBrace,
                CloseBrace,
                w("t;u"),
                Eof
            ]
        );
    }

    #[test]
    fn errors() {
        assert!(Lexer::new("\"open").next_token().is_err());
        assert!(Lexer::new("!x").next_token().is_err());
        assert!(Lexer::new("a\\").next_token().is_err());
    }
}
