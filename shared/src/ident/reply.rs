//! Reading an ident reply line, as a querier does: the other half of the reply
//! grammar, whose printing is [`Reply`]'s `Display`.
//!
//! ```text
//! 6193, 23 : USERID : UNIX : alice
//! 6193, 23 : ERROR : NO-USER
//! ```
//!
//! RFC 1413 allows blanks around the numbers and tokens; the user id is the rest of
//! the line after the colon that follows the operating system, its leading blanks
//! skipped (they cannot be told from the separator's), and it holds no NUL, CR or LF.
//! Only what a [`Reply`] can say is accepted: the operating system `UNIX` and the
//! three error tokens this server sends.

use std::fmt;
use std::str::FromStr;

use super::{decimal, trim, ErrorKind, PortPair, Reply, OPSYS};

/// A reply line outside the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply {
    pub line: String,
    pub why: &'static str,
}

impl fmt::Display for BadReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.why, self.line)
    }
}

impl std::error::Error for BadReply {}

/// Whether `user` can be sent as an RFC 1413 user id on a reply line and read back
/// as itself: not empty, no NUL, CR or LF, no leading blank.
pub fn is_user_id(user: &str) -> bool {
    !user.is_empty() && !user.contains(['\0', '\r', '\n']) && !user.starts_with([' ', '\t'])
}

impl FromStr for ErrorKind {
    type Err = ();

    fn from_str(token: &str) -> Result<ErrorKind, ()> {
        [
            ErrorKind::InvalidPort,
            ErrorKind::NoUser,
            ErrorKind::UnknownError,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == token)
        .ok_or(())
    }
}

fn token(field: &str) -> &str {
    field.trim_matches([' ', '\t'])
}

impl FromStr for Reply {
    type Err = BadReply;

    /// Parses a reply line without its line end.
    fn from_str(line: &str) -> Result<Reply, BadReply> {
        let bad = |why| BadReply {
            line: line.to_string(),
            why,
        };
        let mut fields = line.splitn(4, ':');
        let (Some(pair), Some(kind), Some(third)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("fewer than three fields"));
        };
        let mut ports = pair.as_bytes().split(|&b| b == b',');
        let (Some(server), Some(client), None) = (ports.next(), ports.next(), ports.next()) else {
            return Err(bad("not a port pair"));
        };
        let (Some(server), Some(client)) = (decimal(trim(server)), decimal(trim(client))) else {
            return Err(bad("a port is not a decimal number"));
        };
        let ports = PortPair { server, client };
        match token(kind) {
            "USERID" => {
                if token(third) != OPSYS {
                    return Err(bad("an operating system other than UNIX"));
                }
                let user = fields
                    .next()
                    .ok_or_else(|| bad("no user id"))?
                    .trim_start_matches([' ', '\t']);
                if !is_user_id(user) {
                    return Err(bad("not a user id"));
                }
                Ok(Reply::UserId {
                    ports,
                    user: user.to_string(),
                })
            }
            "ERROR" => {
                if fields.next().is_some() {
                    return Err(bad("text after the error token"));
                }
                let kind = token(third)
                    .parse()
                    .map_err(|()| bad("an unknown error token"))?;
                Ok(Reply::Error { ports, kind })
            }
            _ => Err(bad("neither USERID nor ERROR")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(server: u64, client: u64) -> PortPair {
        PortPair { server, client }
    }

    #[test]
    fn replies_as_sent_parse_back() {
        let alice = Reply::UserId {
            ports: ports(6193, 23),
            user: "alice".into(),
        };
        assert_eq!(
            "6193, 23 : USERID : UNIX : alice".parse(),
            Ok(alice.clone())
        );
        assert_eq!(alice.to_string().parse(), Ok(alice));
        for kind in [
            ErrorKind::InvalidPort,
            ErrorKind::NoUser,
            ErrorKind::UnknownError,
        ] {
            let reply = Reply::Error {
                ports: ports(65536, 0),
                kind,
            };
            assert_eq!(reply.to_string().parse(), Ok(reply));
        }
    }

    #[test]
    fn blanks_around_tokens_and_colons_in_the_user_id() {
        let reply: Reply = "6193,23:USERID:\tUNIX :  a:b c ".parse().unwrap();
        assert_eq!(
            reply,
            Reply::UserId {
                ports: ports(6193, 23),
                user: "a:b c ".into()
            }
        );
        let reply: Reply = " 1 , 2 :ERROR:NO-USER\t".parse().unwrap();
        assert_eq!(
            reply,
            Reply::Error {
                ports: ports(1, 2),
                kind: ErrorKind::NoUser
            }
        );
    }

    #[test]
    fn lines_outside_the_grammar() {
        for bad in [
            "",
            "6193, 23",
            "6193, 23 : USERID : UNIX",
            "6193, 23 : USERID : UNIX : ",
            "6193, 23 : USERID : OTHER : alice",
            "6193, 23 : USERID : UNIX , UTF-8 : alice",
            "6193, 23 : USERID : UNIX : al\rice",
            "6193, 23 : USERID : UNIX : al\0ice",
            "6193, 23 : ERROR : HIDDEN-USER",
            "6193, 23 : ERROR : NO-USER : more",
            "6193 : ERROR : NO-USER",
            "a, 23 : ERROR : NO-USER",
            "6193, 23 : OK : alice",
        ] {
            assert!(bad.parse::<Reply>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn user_ids() {
        assert!(is_user_id("alice"));
        assert!(is_user_id("a b:c"));
        for bad in ["", " alice", "\talice", "al\rice", "alice\n", "a\0"] {
            assert!(!is_user_id(bad), "{bad:?}");
        }
    }
}
