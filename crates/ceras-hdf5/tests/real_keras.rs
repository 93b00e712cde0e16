//! Reads the real Keras fixture files (when the shared fixture directory is
//! present) and checks facts from `fixtures/keras/dumps/*.txt`.

use std::path::{Path, PathBuf};

use ceras_hdf5::{Attr, Dtype, Group, Node};

fn fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/keras");
    if p.is_dir() {
        Some(p)
    } else {
        println!("skipping: fixture directory {} is absent", p.display());
        None
    }
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Extracts a STORED member from a zip archive (enough for `.keras` files).
fn zip_member(zip: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut i = 0;
    while i + 30 <= zip.len() {
        if zip[i..i + 4] != [0x50, 0x4b, 0x03, 0x04] {
            break;
        }
        let u16at = |o: usize| u16::from_le_bytes([zip[o], zip[o + 1]]) as usize;
        let u32at =
            |o: usize| u32::from_le_bytes([zip[o], zip[o + 1], zip[o + 2], zip[o + 3]]) as usize;
        let method = u16at(i + 8);
        let csize = u32at(i + 18);
        let nlen = u16at(i + 26);
        let xlen = u16at(i + 28);
        let fname = &zip[i + 30..i + 30 + nlen];
        let start = i + 30 + nlen + xlen;
        if fname == name.as_bytes() {
            assert_eq!(
                method, 0,
                "only STORED members are supported by this test helper"
            );
            return Some(zip[start..start + csize].to_vec());
        }
        i = start + csize;
    }
    None
}

fn count(g: &Group) -> (usize, usize) {
    let mut n = (0, 0);
    for (_, m) in &g.members {
        match m {
            Node::Group(s) => {
                let (a, b) = count(s);
                n = (n.0 + 1 + a, n.1 + b);
            }
            Node::Dataset(_) => n.1 += 1,
        }
    }
    n
}

#[test]
fn mlp_weights_facts() {
    let Some(dir) = fixtures() else { return };
    let bytes = std::fs::read(dir.join("mlp.weights.h5")).unwrap();
    let root = ceras_hdf5::read(&bytes).unwrap();
    let k = root.dataset("/layers/dense/vars/0").unwrap();
    assert_eq!(k.dtype, Dtype::F32);
    assert_eq!(k.shape, vec![784, 64]);
    let sum: f64 = f32s(&k.data).iter().map(|&v| f64::from(v)).sum();
    assert!((sum - -59.5039).abs() < 1e-3, "sum {sum}");
    assert_eq!(
        root.group("layers/dense/vars").unwrap().attr("name"),
        Some(&Attr::Str("dense".into()))
    );
    assert_eq!(
        root.group("/vars").unwrap().attr("name"),
        Some(&Attr::Str("mlp".into()))
    );
    assert_eq!(
        root.group("/optimizer/vars").unwrap().attr("name"),
        Some(&Attr::Str("adam".into()))
    );
    let it = root.dataset("/optimizer/vars/0").unwrap();
    assert_eq!(it.dtype, Dtype::I32);
    assert!(it.shape.is_empty());
    assert_eq!(i32::from_le_bytes(it.data[..4].try_into().unwrap()), 8);
    let lr = root.dataset("/optimizer/vars/1").unwrap();
    assert_eq!(lr.dtype, Dtype::F32);
    assert!((f32s(&lr.data)[0] - 0.001).abs() < 1e-9);
    let b1 = root.dataset("/layers/dense_1/vars/1").unwrap();
    assert_eq!(b1.shape, vec![10]);
    let s: f32 = f32s(&b1.data).iter().sum();
    assert!((s - 0.0050448).abs() < 1e-5, "{s}");
    assert_eq!(root.group("/optimizer/vars").unwrap().members.len(), 10);
}

#[test]
fn all_real_weight_files_parse() {
    let Some(dir) = fixtures() else { return };
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["", "extras"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".weights.h5") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let root = ceras_hdf5::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (groups, datasets) = count(&root);
        println!("{}: {groups} groups, {datasets} datasets", f.display());
        assert!(datasets > 0);
        // round trip through the writer
        let again = ceras_hdf5::read(&ceras_hdf5::write(&root).unwrap()).unwrap();
        assert_eq!(normalize(&again), normalize(&root), "{}", f.display());
    }
}

/// Members sorted by name (the writer stores them name-sorted, as HDF5 does).
fn normalize(g: &Group) -> Group {
    let mut out = Group {
        attrs: g.attrs.clone(),
        members: Vec::new(),
    };
    for (k, v) in &g.members {
        let v = match v {
            Node::Group(s) => Node::Group(normalize(s)),
            d => d.clone(),
        };
        out.members.push((k.clone(), v));
    }
    out.members.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn keras_archives_weights_parse() {
    let Some(dir) = fixtures() else { return };
    let mut n = 0;
    for sub in ["", "variants"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "keras") {
                let zip = std::fs::read(&p).unwrap();
                let Some(h5) = zip_member(&zip, "model.weights.h5") else {
                    continue;
                };
                let root = ceras_hdf5::read(&h5).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let (g, d) = count(&root);
                println!("{}: {g} groups, {d} datasets", p.display());
                n += 1;
            }
        }
    }
    assert!(n >= 10);
}

#[test]
fn dtypes_variant_bf16_opaque() {
    let Some(dir) = fixtures() else { return };
    let zip = std::fs::read(dir.join("variants/dtypes.keras")).unwrap();
    let root = ceras_hdf5::read(&zip_member(&zip, "model.weights.h5").unwrap()).unwrap();
    let mut found = Vec::new();
    fn walk(g: &Group, path: String, out: &mut Vec<(String, Dtype, Option<Attr>)>) {
        for (k, v) in &g.members {
            let p = format!("{path}/{k}");
            match v {
                Node::Group(s) => walk(s, p, out),
                Node::Dataset(d) => out.push((p, d.dtype, d.attr("dtype").cloned())),
            }
        }
    }
    walk(&root, String::new(), &mut found);
    for f in &found {
        println!("{f:?}");
    }
    assert!(found
        .iter()
        .any(|(_, d, a)| *d == Dtype::Opaque(2) && *a == Some(Attr::Str("bfloat16".into()))));
    assert!(found.iter().any(|(_, d, _)| *d == Dtype::F16));
}
