//! `#[cfg(…)]` of the legacy crates, evaluated for this machine's build: the features
//! cargo resolved for the package, Linux on a 64-bit unix target, not a test build.

use std::collections::BTreeSet;

use syn::{Attribute, Meta};

/// The configuration a crate was built with.
pub struct Cfg<'a> {
    pub features: &'a BTreeSet<String>,
}

impl Cfg<'_> {
    /// Whether every `#[cfg]` among `attrs` holds.
    pub fn enabled(&self, attrs: &[Attribute]) -> bool {
        attrs.iter().filter(|a| a.path().is_ident("cfg")).all(|a| {
            a.parse_args::<Meta>()
                .map(|m| self.holds(&m))
                .unwrap_or(true)
        })
    }

    fn holds(&self, meta: &Meta) -> bool {
        match meta {
            Meta::Path(p) => p
                .get_ident()
                .is_some_and(|i| matches!(i.to_string().as_str(), "unix" | "debug_assertions")),
            Meta::NameValue(nv) => {
                let key = nv
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(value),
                    ..
                }) = &nv.value
                else {
                    return false;
                };
                let value = value.value();
                match key.as_str() {
                    "feature" => self.features.contains(&value),
                    "target_os" => value == "linux",
                    "target_family" => value == "unix",
                    "target_pointer_width" => value == "64",
                    "target_arch" => value == "x86_64",
                    "target_env" => value == "gnu",
                    _ => false,
                }
            }
            Meta::List(list) => {
                let args = list
                    .parse_args_with(
                        syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated,
                    )
                    .map(|p| p.into_iter().collect::<Vec<_>>())
                    .unwrap_or_default();
                match list.path.get_ident().map(ToString::to_string).as_deref() {
                    Some("all") => args.iter().all(|m| self.holds(m)),
                    Some("any") => args.iter().any(|m| self.holds(m)),
                    Some("not") => !args.iter().all(|m| self.holds(m)),
                    _ => false,
                }
            }
        }
    }
}

/// Whether the attributes mark the item `#[doc(hidden)]`.
pub fn hidden(attrs: &[Attribute]) -> bool {
    // `#[doc(hidden)]`, `#![doc(hidden, html_root_url = "…")]`
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc") && matches!(a.meta, Meta::List(_)))
        .any(|a| {
            a.parse_args_with(syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated)
                .is_ok_and(|list| list.iter().any(|m| m.path().is_ident("hidden")))
        })
}

/// Whether the attributes mark the item `#[deprecated]`.
pub fn deprecated(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("deprecated"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_among_other_doc_settings() {
        let f: syn::File =
            syn::parse_str("#![doc(hidden, html_root_url = \"https://x\")]").unwrap();
        assert!(super::hidden(&f.attrs));
        let f: syn::File = syn::parse_str("#[doc(hidden)] fn f() {}").unwrap();
        let syn::Item::Fn(func) = &f.items[0] else {
            panic!()
        };
        assert!(super::hidden(&func.attrs));
    }
}
