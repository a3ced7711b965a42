//! A first pass over an expression as written: tokens with their columns, the mistakes that
//! `exmex` would report without a position (or not at all) refused with one, and the text
//! `exmex` parses.
//!
//! Refused here, each naming its column: a character that is not part of an expression,
//! unbalanced parentheses, two operators or two operands in a row, an operator at the end, and
//! two forms whose meaning in `exmex` differs from the usual one: `-x^2`, which `exmex` reads as
//! `(-x)^2`, and `a^b^c`, whose grouping is not the one everybody expects. Numbers in scientific
//! notation (`1e-3`), which `exmex` does not read, are handed to it as plain decimals with the
//! same value.

/// One token and the 1-based column of its first character.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Number(f64),
    Ident(String),
    /// `+ - * / ^`
    Op(char),
    Open,
    Close,
}

/// A refused expression: the column (1-based, in characters) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub column: usize,
    pub reason: String,
}

fn err<T>(column: usize, reason: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        column,
        reason: reason.into(),
    })
}

/// Letters `exmex` accepts in a name: ASCII, Greek, and `_`.
fn name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || ('α'..='ω').contains(&c) || ('Α'..='Ω').contains(&c)
}

fn name_char(c: char) -> bool {
    name_start(c) || c.is_ascii_digit()
}

/// Splits `text` into tokens.
pub fn tokens(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let kind = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // an exponent: e or E, an optional sign, digits
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let literal: String = chars[start..i].iter().collect();
            match literal.parse::<f64>() {
                Ok(v) if v.is_finite() => TokenKind::Number(v),
                _ => return err(column, format!("`{literal}` is not a finite number")),
            }
        } else if name_start(c) {
            let start = i;
            while i < chars.len() && name_char(chars[i]) {
                i += 1;
            }
            TokenKind::Ident(chars[start..i].iter().collect())
        } else {
            i += 1;
            match c {
                '+' | '-' | '*' | '/' | '^' => TokenKind::Op(c),
                '(' => TokenKind::Open,
                ')' => TokenKind::Close,
                other => {
                    return err(
                        column,
                        format!(
                            "unexpected character {other:?} (an expression has numbers, names, + - * / ^ and parentheses)"
                        ),
                    );
                }
            }
        };
        out.push(Token { kind, column });
    }
    Ok(out)
}

/// Checks the token sequence; `is_function` says which names take an argument (`sin`, ...).
pub fn check(
    text: &str,
    tokens: &[Token],
    is_function: &dyn Fn(&str) -> bool,
) -> Result<(), SyntaxError> {
    let end = text.chars().count() + 1;
    if tokens.is_empty() {
        return err(1, "the expression is empty");
    }
    let mut depth: Vec<usize> = Vec::new();
    // whether the previous token ends an operand (a number, a name, a closing parenthesis)
    let mut after_operand = false;
    for (k, t) in tokens.iter().enumerate() {
        match &t.kind {
            TokenKind::Number(_) | TokenKind::Ident(_) | TokenKind::Open => {
                // (after a function's name `after_operand` is false: its argument follows)
                if after_operand {
                    return err(
                        t.column,
                        "two operands in a row: a missing operator (write 2*q, not 2q)",
                    );
                }
                if t.kind == TokenKind::Open {
                    depth.push(t.column);
                    after_operand = false;
                } else {
                    // a function's name is followed by its argument, not by an operator
                    after_operand = !matches!(&t.kind, TokenKind::Ident(n) if is_function(n));
                }
            }
            TokenKind::Close => {
                if depth.pop().is_none() {
                    return err(t.column, "`)` closes no parenthesis");
                }
                if !after_operand {
                    return err(t.column, "`)` after an operator or an empty `()`");
                }
                after_operand = true;
            }
            TokenKind::Op(op) => {
                let unary = !after_operand && (*op == '-' || *op == '+');
                if !after_operand && !unary {
                    return err(t.column, format!("`{op}` has no left operand"));
                }
                if unary {
                    check_unary_minus(tokens, k, is_function)?;
                }
                if *op == '^' {
                    let rhs = end_of_operand(tokens, k + 1, is_function);
                    if let Some(next) = tokens.get(rhs)
                        && next.kind == TokenKind::Op('^')
                    {
                        return err(next.column, "a^b^c is ambiguous: write (a^b)^c or a^(b^c)");
                    }
                }
                after_operand = false;
            }
        }
    }
    if let Some(open) = depth.pop() {
        return err(open, "`(` is never closed");
    }
    if !after_operand {
        return err(
            end - 1,
            "the expression ends with an operator or a function name",
        );
    }
    Ok(())
}

/// `-x^2` reads as `(-x)^2` in `exmex`: refused, the user writes what is meant.
fn check_unary_minus(
    tokens: &[Token],
    k: usize,
    is_function: &dyn Fn(&str) -> bool,
) -> Result<(), SyntaxError> {
    // the sign and its operand
    let after = end_of_operand(tokens, k, is_function);
    if let Some(next) = tokens.get(after)
        && next.kind == TokenKind::Op('^')
    {
        return err(
            tokens[k].column,
            "a sign before a power is ambiguous (-x^2 would be (-x)^2 here): write -(x^2) or (-x)^2",
        );
    }
    Ok(())
}

/// The index just past the operand that starts at `k`: a number, a name, a parenthesised
/// group, a function applied to an operand, or a signed operand.
fn end_of_operand(tokens: &[Token], k: usize, is_function: &dyn Fn(&str) -> bool) -> usize {
    match tokens.get(k).map(|t| &t.kind) {
        Some(TokenKind::Open) => {
            let mut depth = 0usize;
            for (j, t) in tokens.iter().enumerate().skip(k) {
                match t.kind {
                    TokenKind::Open => depth += 1,
                    TokenKind::Close => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
            }
            tokens.len()
        }
        Some(TokenKind::Ident(name)) if is_function(name) => {
            end_of_operand(tokens, k + 1, is_function)
        }
        Some(TokenKind::Op('-' | '+')) => end_of_operand(tokens, k + 1, is_function),
        Some(_) => k + 1,
        None => k,
    }
}

/// The text `exmex` parses: the tokens with single spaces, numbers as plain decimals.
pub fn normalized(tokens: &[Token]) -> String {
    let mut out = String::new();
    for t in tokens {
        if !out.is_empty() {
            out.push(' ');
        }
        match &t.kind {
            // Display of an f64 is a plain decimal that reads back to the same value
            TokenKind::Number(v) => out += &format!("{v}"),
            TokenKind::Ident(name) => out += name,
            TokenKind::Op(op) => out.push(*op),
            TokenKind::Open => out.push('('),
            TokenKind::Close => out.push(')'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn funcs(name: &str) -> bool {
        matches!(name, "sin" | "cos" | "exp")
    }

    fn refused(text: &str) -> SyntaxError {
        let t = tokens(text);
        match t {
            Err(e) => e,
            Ok(t) => check(text, &t, &funcs).expect_err(text),
        }
    }

    #[test]
    fn every_mistake_is_named_at_its_column() {
        for (text, column, words) in [
            ("q^2 + (p", 7, "never closed"),
            ("q^2 + p)", 8, "closes no"),
            ("q**2", 3, "no left operand"),
            ("2q", 2, "missing operator"),
            ("q p", 3, "missing operator"),
            ("q^2 +", 5, "ends with an operator"),
            ("q^2 $ p", 5, "unexpected character"),
            ("-q^2 + p^2", 1, "(-x)^2"),
            ("p^2 + (-sin(q))^2 - -q^2", 21, "(-x)^2"),
            ("q^2^3", 4, "ambiguous"),
            ("()", 2, "empty"),
            ("", 1, "empty"),
            ("1e999 * q", 1, "finite"),
            // an exponent needs digits: `2e` is 2 and Euler's e
            ("q*2e", 4, "missing operator"),
            ("q*2e+", 4, "missing operator"),
            // a sign before a function or a group, then a power
            ("-sin(q)^2 + p^2", 1, "(-x)^2"),
            ("-(q + p)^2", 1, "(-x)^2"),
            ("2^-q^2", 5, "a^b^c"),
        ] {
            let e = refused(text);
            assert_eq!(e.column, column, "{text}: {e:?}");
            assert!(e.reason.contains(words), "{text}: {e:?}");
        }
    }

    #[test]
    fn accepted_forms_and_their_normal_text() {
        for (text, want) in [
            ("q^2 + p^2", "q ^ 2 + p ^ 2"),
            ("1.5e-3*q*-p", "0.0015 * q * - p"),
            ("-(q^2) + (-q)^2", "- ( q ^ 2 ) + ( - q ) ^ 2"),
            ("2^-q", "2 ^ - q"),
            ("sin q + cos(q)^2", "sin q + cos ( q ) ^ 2"),
            ("α*q1^3/3", "α * q1 ^ 3 / 3"),
            ("1E2", "100"),
        ] {
            let t = tokens(text).unwrap();
            check(text, &t, &funcs).unwrap();
            assert_eq!(normalized(&t), want);
        }
    }

    #[test]
    fn tokens_carry_their_columns() {
        let t = tokens(" q1 +  2.5").unwrap();
        let columns: Vec<usize> = t.iter().map(|t| t.column).collect();
        assert_eq!(columns, vec![2, 5, 8]);
        assert_eq!(t[0].kind, TokenKind::Ident("q1".into()));
        assert_eq!(t[2].kind, TokenKind::Number(2.5));
    }
}
