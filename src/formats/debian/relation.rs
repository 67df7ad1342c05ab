//! Package relationship fields (`Depends`, `Pre-Depends`, `Provides`), as deb-control(5) and
//! Debian Policy §7.1 spell them: `a (>= 1.0) | b:any, c [amd64] <!nocheck>`.

use std::cmp::Ordering;

use super::version::Version;

/// A version relation operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<<`: strictly earlier.
    Earlier,
    /// `<=` (and the obsolete `<`, which dpkg reads as `<=`).
    EarlierEqual,
    /// `=`.
    Equal,
    /// `>=` (and the obsolete `>`, which dpkg reads as `>=`).
    LaterEqual,
    /// `>>`: strictly later.
    Later,
}

impl Op {
    /// The operator as deb-control(5) writes it (and `dpkg --compare-versions` takes it).
    pub fn spelling(self) -> &'static str {
        match self {
            Op::Earlier => "<<",
            Op::EarlierEqual => "<=",
            Op::Equal => "=",
            Op::LaterEqual => ">=",
            Op::Later => ">>",
        }
    }

    /// Whether `candidate` stands in this relation to `wanted`.
    pub fn holds(self, candidate: &Version, wanted: &Version) -> bool {
        let ord = candidate.cmp(wanted);
        match self {
            Op::Earlier => ord == Ordering::Less,
            Op::EarlierEqual => ord != Ordering::Greater,
            Op::Equal => ord == Ordering::Equal,
            Op::LaterEqual => ord != Ordering::Less,
            Op::Later => ord == Ordering::Greater,
        }
    }
}

/// One alternative: a package name with an optional version constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    /// The package (or virtual package) name, without an `:any`/`:native` qualifier.
    pub name: String,
    /// The version constraint, if any.
    pub version: Option<(Op, Version)>,
}

/// Parses a relationship field into its clauses (`,`-separated), each a list of alternatives
/// (`|`-separated). Architecture restrictions (`[amd64]`) and build profiles (`<!nocheck>`) are
/// dropped: they are for source packages and never appear in binary `Depends`.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Relation>>, String> {
    let mut clauses = Vec::new();
    for clause in field.split(',') {
        let clause = clause.trim();
        if clause.is_empty() {
            // A trailing comma is tolerated by dpkg.
            continue;
        }
        let alternatives = clause
            .split('|')
            .map(parse_relation)
            .collect::<Result<Vec<_>, _>>()?;
        clauses.push(alternatives);
    }
    Ok(clauses)
}

/// Parses one alternative.
fn parse_relation(text: &str) -> Result<Relation, String> {
    let text = text.trim();
    let name_end = text
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(text.len());
    let (name, mut rest) = (&text[..name_end], text[name_end..].trim_start());
    let name = name.split_once(':').map_or(name, |(n, _)| n);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
    {
        return Err(format!("bad package name in relation {text:?}"));
    }
    let mut version = None;
    if let Some(inner) = rest.strip_prefix('(') {
        let Some((constraint, after)) = inner.split_once(')') else {
            return Err(format!("unclosed '(' in relation {text:?}"));
        };
        version = Some(parse_constraint(constraint.trim()).map_err(|e| format!("relation {text:?}: {e}"))?);
        rest = after.trim_start();
    }
    // What may follow: `[arch list]` and `<profiles>`, ignored here.
    if !(rest.is_empty() || rest.starts_with(['[', '<'])) {
        return Err(format!("unexpected {rest:?} in relation {text:?}"));
    }
    Ok(Relation {
        name: name.to_owned(),
        version,
    })
}

/// Parses `>= 1.0` (spaces optional).
fn parse_constraint(text: &str) -> Result<(Op, Version), String> {
    let ops = [
        (">>", Op::Later),
        (">=", Op::LaterEqual),
        ("<<", Op::Earlier),
        ("<=", Op::EarlierEqual),
        ("=", Op::Equal),
        (">", Op::LaterEqual),
        ("<", Op::EarlierEqual),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(spelling, op)| text.strip_prefix(spelling).map(|rest| (*op, rest)))
        .ok_or_else(|| format!("no relation operator in ({text})"))?;
    Ok((op, Version::parse(rest.trim())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parses_alternatives_constraints_and_qualifiers() {
        let clauses = parse_relations(
            "libc6 (>= 2.34), bm-libgreet(>>1.0~rc1) | greeter, python3:any, foo [amd64] <!nocheck>,",
        )
        .unwrap();
        assert_eq!(clauses.len(), 4);
        assert_eq!(clauses[0][0].name, "libc6");
        assert_eq!(clauses[0][0].version, Some((Op::LaterEqual, v("2.34"))));
        assert_eq!(clauses[1][0].version, Some((Op::Later, v("1.0~rc1"))));
        assert_eq!(
            clauses[1][1],
            Relation {
                name: "greeter".into(),
                version: None
            }
        );
        assert_eq!(clauses[2][0].name, "python3");
        assert_eq!(clauses[3][0].name, "foo");
    }

    #[test]
    fn obsolete_operators_mean_or_equal() {
        let c = parse_relations("a (< 2), b (> 1)").unwrap();
        assert_eq!(c[0][0].version.as_ref().unwrap().0, Op::EarlierEqual);
        assert_eq!(c[1][0].version.as_ref().unwrap().0, Op::LaterEqual);
    }

    #[test]
    fn ops_hold() {
        assert!(Op::LaterEqual.holds(&v("1.0"), &v("1.0")));
        assert!(!Op::Later.holds(&v("1.0"), &v("1.0")));
        assert!(Op::Earlier.holds(&v("1.0~rc1"), &v("1.0")));
        assert!(Op::Equal.holds(&v("0:1.0"), &v("1.0")));
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["a (>= 1.0", "a (~ 1)", "A", "a b", "a (>= )", "| b"] {
            assert!(parse_relations(bad).is_err(), "{bad:?} accepted");
        }
    }
}
