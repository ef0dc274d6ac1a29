//! Sparse files: old GNU `S` headers (with extension blocks) and PAX 0.0, 0.1, 1.0,
//! valid and not.

use super::*;

/// A sparse file's logical contents from its data fragments.
fn sparse_data(map: &[(u64, u64)], seed: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, (_, len)) in map.iter().enumerate() {
        v.extend(content(seed + i as u64, *len as usize));
    }
    v
}

/// An old GNU sparse (`S`) header: up to 4 map entries in the header, the rest in
/// extension blocks of 21.
pub fn gnu_sparse(name: &str, map: &[(u64, u64)], real: u64, stored: u64, magic: Fmt) -> Vec<u8> {
    let mut h = Hdr::new(name.as_bytes(), b'S', stored).fmt(magic);
    let field = |v: u64| format!("{v:011o}\0").into_bytes();
    for (i, (off, len)) in map.iter().take(4).enumerate() {
        h = h
            .patch(386 + i * 24, &field(*off))
            .patch(386 + i * 24 + 12, &field(*len));
    }
    if map.len() > 4 {
        h = h.patch(482, &[1]);
    }
    h = h.patch(483, &field(real));
    let mut out = h.block().to_vec();
    let rest: Vec<_> = map.iter().skip(4).collect();
    let chunks: Vec<_> = rest.chunks(21).collect();
    for (ci, chunk) in chunks.iter().enumerate() {
        let mut b = [0u8; 512];
        for (i, (off, len)) in chunk.iter().enumerate() {
            b[i * 24..i * 24 + 12].copy_from_slice(&field(*off));
            b[i * 24 + 12..i * 24 + 24].copy_from_slice(&field(*len));
        }
        if ci + 1 < chunks.len() {
            b[504] = 1;
        }
        out.extend_from_slice(&b);
    }
    out
}

pub fn sparse(c: &mut Corpus) {
    let map = [(0u64, 1000u64), (5000, 512), (70000, 3000)];
    let data = sparse_data(&map, 10);
    let stored = data.len() as u64;
    let with_data = |hdr: Vec<u8>, data: &[u8]| {
        let mut v = hdr;
        v.extend_from_slice(data);
        tail(Tar(v).raw(&[]).pad())
    };
    c.add(
        "sparse/gnu-old",
        "tar",
        with_data(gnu_sparse("s", &map, 100_000, stored, Fmt::Gnu), &data),
    );
    c.add(
        "sparse/gnu-old-ends-in-data",
        "tar",
        with_data(gnu_sparse("s", &map, 73000, stored, Fmt::Gnu), &data),
    );
    let many: Vec<(u64, u64)> = (0..30).map(|i| (i * 8192, 100)).collect();
    let many_data = sparse_data(&many, 20);
    c.add(
        "sparse/gnu-old-extended",
        "tar.gz",
        gz(&with_data(
            gnu_sparse("s", &many, 300_000, many_data.len() as u64, Fmt::Gnu),
            &many_data,
        )),
    );
    c.add(
        "sparse/gnu-old-ustar-magic",
        "tar",
        with_data(gnu_sparse("s", &map, 100_000, stored, Fmt::Ustar), &data),
    );
    c.add(
        "sparse/gnu-old-overlap",
        "tar",
        with_data(
            gnu_sparse("s", &[(0, 1000), (500, 512)], 100_000, 1512, Fmt::Gnu),
            &content(1, 1512),
        ),
    );
    c.add(
        "sparse/gnu-old-beyond-size",
        "tar",
        with_data(
            gnu_sparse("s", &[(0, 1000), (99_800, 512)], 100_000, 1512, Fmt::Gnu),
            &content(1, 1512),
        ),
    );
    c.add(
        "sparse/gnu-old-missing-data",
        "tar",
        with_data(
            gnu_sparse("s", &map, 100_000, stored - 100, Fmt::Gnu),
            &data[..data.len() - 100],
        ),
    );
    c.add(
        "sparse/gnu-old-extra-data",
        "tar",
        with_data(
            gnu_sparse("s", &map, 100_000, stored + 100, Fmt::Gnu),
            &content(5, data.len() + 100),
        ),
    );
    c.add(
        "sparse/gnu-old-no-map",
        "tar",
        with_data(gnu_sparse("s", &[], 4096, 0, Fmt::Gnu), b""),
    );

    let pax_map: String = map
        .iter()
        .map(|(o, l)| format!("{o},{l}"))
        .collect::<Vec<_>>()
        .join(",");
    let pax_sparse = |records: Vec<(&str, Vec<u8>)>, name: &str, body: &[u8]| {
        let recs: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        tail(
            Tar::new()
                .pax(b'x', &recs)
                .entry(Hdr::new(name.as_bytes(), b'0', body.len() as u64), body),
        )
    };
    let mut v00 = vec![
        ("GNU.sparse.size", b"100000".to_vec()),
        ("GNU.sparse.numblocks", b"3".to_vec()),
    ];
    for (o, l) in map {
        v00.push(("GNU.sparse.offset", o.to_string().into_bytes()));
        v00.push(("GNU.sparse.numbytes", l.to_string().into_bytes()));
    }
    c.add(
        "sparse/pax-0.0",
        "tar",
        pax_sparse(v00.clone(), "GNUSparseFile.0/s", &data),
    );
    let mut bad_order = v00.clone();
    bad_order.swap(2, 3);
    c.add(
        "sparse/pax-0.0-bad-order",
        "tar",
        pax_sparse(bad_order, "GNUSparseFile.0/s", &data),
    );
    let v01 = vec![
        ("GNU.sparse.major", b"0".to_vec()),
        ("GNU.sparse.minor", b"1".to_vec()),
        ("GNU.sparse.name", b"sparse-01".to_vec()),
        ("GNU.sparse.size", b"100000".to_vec()),
        ("GNU.sparse.numblocks", b"3".to_vec()),
        ("GNU.sparse.map", pax_map.clone().into_bytes()),
    ];
    c.add(
        "sparse/pax-0.1",
        "tar",
        pax_sparse(v01.clone(), "GNUSparseFile.0/s", &data),
    );
    let mut miscount = v01.clone();
    miscount[4].1 = b"4".to_vec();
    c.add(
        "sparse/pax-0.1-count-mismatch",
        "tar",
        pax_sparse(miscount, "GNUSparseFile.0/s", &data),
    );
    c.add(
        "sparse/pax-0.1-all-hole",
        "tar",
        pax_sparse(
            vec![
                ("GNU.sparse.size", b"1048576".to_vec()),
                ("GNU.sparse.numblocks", b"0".to_vec()),
                ("GNU.sparse.map", b"".to_vec()),
            ],
            "holes",
            b"",
        ),
    );
    let mut body10 = format!("3\n{}\n", pax_map.replace(',', "\n")).into_bytes();
    let rem = body10.len() % 512;
    body10.resize(body10.len() + 512 - rem, 0);
    let map_len = body10.len();
    body10.extend_from_slice(&data);
    let v10 = vec![
        ("GNU.sparse.major", b"1".to_vec()),
        ("GNU.sparse.minor", b"0".to_vec()),
        ("GNU.sparse.name", b"dir/sparse-10".to_vec()),
        ("GNU.sparse.realsize", b"100000".to_vec()),
    ];
    c.add(
        "sparse/pax-1.0",
        "tar",
        pax_sparse(v10.clone(), "GNUSparseFile.0/s", &body10),
    );
    let mut bad10 = b"3\nzero\n".to_vec();
    bad10.resize(map_len, 0);
    bad10.extend_from_slice(&data);
    c.add(
        "sparse/pax-1.0-bad-map",
        "tar",
        pax_sparse(v10.clone(), "GNUSparseFile.0/s", &bad10),
    );
    c.add(
        "sparse/pax-1.0-map-cut",
        "tar",
        pax_sparse(v10.clone(), "GNUSparseFile.0/s", b"3\n0\n1000\n"),
    );
    let mut v2 = v10.clone();
    v2[0].1 = b"2".to_vec();
    c.add(
        "sparse/pax-unknown-version",
        "tar",
        pax_sparse(v2, "GNUSparseFile.0/s", &body10),
    );
    let mut dir_sparse = v01.clone();
    dir_sparse[2].1 = b"sparse-dir/".to_vec();
    c.add(
        "sparse/pax-0.1-on-a-dir",
        "tar",
        tail(
            Tar::new()
                .pax(
                    b'x',
                    &dir_sparse
                        .iter()
                        .map(|(k, v)| (*k, v.as_slice()))
                        .collect::<Vec<_>>(),
                )
                .entry(Hdr::new(b"d/", b'5', 0), b""),
        ),
    );
}
