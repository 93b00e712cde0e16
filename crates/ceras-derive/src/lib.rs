//! `#[derive(Tracked)]`: lists a struct's layer fields for ceras, so subclassed
//! models and composite layers never list them by hand (Keras tracks layer
//! attributes automatically).
//!
//! The generated `ceras::layers::Tracked::tracked_layers` visits every field in
//! declaration order and keeps those that hold layers: a type implementing
//! `Layer`, a `Box<dyn Layer>`, a `SharedLayer`, an `Option`, `Vec` or array of
//! those. Other fields are skipped. The choice is made at compile time by method
//! resolution on the field's type (no attributes needed).

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields, Index};

/// Implements `ceras::layers::Tracked` for a struct (see the crate docs).
#[proc_macro_derive(Tracked)]
pub fn derive_tracked(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let name = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        _ => {
            return syn::Error::new_spanned(name, "#[derive(Tracked)] needs a struct")
                .to_compile_error()
                .into()
        }
    };
    let accessors: Vec<proc_macro2::TokenStream> = match fields {
        Fields::Named(f) => f
            .named
            .iter()
            .map(|f| {
                let id = f.ident.as_ref().expect("named field");
                quote!(&self.#id)
            })
            .collect(),
        Fields::Unnamed(f) => (0..f.unnamed.len())
            .map(|i| {
                let i = Index::from(i);
                quote!(&self.#i)
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    quote! {
        impl #impl_g ::ceras::layers::Tracked for #name #ty_g #where_g {
            fn tracked_layers(&self) -> ::std::vec::Vec<::ceras::layers::LayerRef<'_>> {
                #[allow(unused_imports)]
                use ::ceras::layers::__track::{
                    ViaArray, ViaBox, ViaLayer, ViaOption, ViaOther, ViaShared, ViaVec,
                    ViaVecBox, ViaVecShared,
                };
                let mut __layers = ::std::vec::Vec::new();
                #( __layers.extend((&::ceras::layers::__track::Probe(#accessors)).layers()); )*
                __layers
            }
        }
    }
    .into()
}
