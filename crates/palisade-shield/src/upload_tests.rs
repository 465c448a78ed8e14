//! Text files in multipart bodies (a products CSV) against ordinary text fields: a file part with a file name
//! has its own length limit and is still inspected in full; a field without one keeps the 64 KiB limit.

use super::*;

fn verdict(req: Request) -> Verdict {
    Shield::default().inspect(&req, &Policy::default())
}

fn names(v: &Verdict) -> Vec<&'static str> {
    v.findings.iter().map(|f| f.rule).collect()
}

/// A multipart body with one part named `file`; `filename` adds `filename="…"` to its disposition.
fn multipart(filename: Option<&str>, part_type: &str, content: &str) -> Request<'static> {
    let disposition = match filename {
        Some(f) => format!("form-data; name=\"file\"; filename=\"{f}\""),
        None => "form-data; name=\"file\"".to_owned(),
    };
    let body = format!(
        "--b\r\nContent-Disposition: {disposition}\r\nContent-Type: {part_type}\r\n\r\n{content}\r\n\
         --b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc123\r\n--b--\r\n"
    );
    Request::new("POST", "/admin/stores/tea/products/import")
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body.into_bytes())
}

/// A products CSV as merchants write them (and as our export writes them, formula cells defused), of about
/// `size` bytes.
fn products_csv(size: usize) -> String {
    let titles = [
        "Men's 100% cotton tee - navy",
        "'-20% sale: teal mug",
        "\"Oolong tea, 100 g\"",
        "\"12\"\" vinyl record\"",
        "Café crème pot",
        "Rock & roll mug (large)",
        "<3 gift card",
        "O'Reilly's cookbook, 2nd ed.",
        "'+1 extra lid",
        "Kids' shoes 30/31",
    ];
    let mut out = String::from("title,sku,option,price,stock,status\n");
    let mut i = 0usize;
    while out.len() < size {
        let title = titles.get(i % titles.len()).copied().unwrap_or("Mug");
        out.push_str(&format!(
            "{title},SKU-{i},size: M / colour: teal,{}.{:02},{},published\n",
            i % 90,
            i % 100,
            i % 7
        ));
        i += 1;
    }
    out
}

#[test]
fn a_large_products_csv_sent_as_a_file_passes_and_is_still_read_in_full() {
    let csv = products_csv(2 * 1024 * 1024 - 4096);
    assert!(csv.len() > 16 * request::MAX_FIELD);
    let v = verdict(multipart(Some("products.csv"), "text/csv", &csv));
    assert_eq!(v.action, Action::Allow, "{:?}", v.findings);
    // The file is inspected to its end: a payload past the first 64 KiB is found.
    let late = format!("{csv}Teal <script>alert(1)</script> mug,XS-1,,1.00,1,draft\n");
    let v = verdict(multipart(Some("products.csv"), "text/csv", &late));
    assert_eq!(v.action, Action::Block);
    assert!(names(&v).iter().any(|r| r.starts_with("xss.")), "{:?}", names(&v));
    let late = format!("{csv}Mug,S-1,,1.00,1' UNION SELECT password FROM accounts--,draft\n");
    assert!(names(&verdict(multipart(Some("p.csv"), "text/csv", &late))).iter().any(|r| r.starts_with("sqli.")));
    // A text file beyond its own limit is refused, not read in part.
    let huge = products_csv(request::MAX_FILE_TEXT + 1024);
    assert_eq!(verdict(multipart(Some("products.csv"), "text/csv", &huge)).action, Action::Block);
}

#[test]
fn a_long_text_field_is_refused_however_it_is_dressed_without_a_file_name() {
    let long = products_csv(request::MAX_FIELD + 1024);
    // A form field.
    let form = Request::new("POST", "/admin/stores/tea/products/import")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("file={}", long.replace('\n', "%0A").replace(' ', "+").replace('&', "%26")).into_bytes());
    assert!(names(&verdict(form)).contains(&"protocol.field-too-long"));
    // A multipart part without a file name, whatever type it declares, on the import route or any other.
    for part_type in ["text/plain", "text/csv", "application/octet-stream"] {
        let v = verdict(multipart(None, part_type, &long));
        assert!(names(&v).contains(&"protocol.field-too-long"), "{part_type}: {:?}", names(&v));
        assert_eq!(v.action, Action::Block);
    }
    // A short field is read as before, and a file name does not hide a payload in a short one either.
    let v = verdict(multipart(None, "text/plain", "<script>alert(1)</script>"));
    assert!(names(&v).iter().any(|r| r.starts_with("xss.")));
    let v = verdict(multipart(Some("a.txt"), "text/plain", "<script>alert(1)</script>"));
    assert!(names(&v).iter().any(|r| r.starts_with("xss.")));
}

#[test]
fn only_parts_with_a_file_name_are_marked_as_files() {
    let req = multipart(Some("products.csv"), "text/csv", "title,sku\nMug,M-1\n");
    let fields = req.fields();
    let file = fields.iter().find(|f| f.location == Location::Body && f.name == "file");
    assert!(file.is_some_and(|f| f.file), "{fields:?}");
    let csrf = fields.iter().find(|f| f.name == "csrf");
    assert!(csrf.is_some_and(|f| !f.file), "{fields:?}");
    let plain = multipart(None, "text/csv", "title,sku\nMug,M-1\n");
    assert!(plain.fields().iter().all(|f| !f.file));
}

/// A declared binary type or file name hides nothing: only content that starts like an accepted binary format
/// (an image, an archive, an age file) is skipped. Otherwise `alt` sent as `filename="a"` + `image/png` would
/// reach the handler, which reads fields by name, without inspection.
#[test]
fn a_declared_binary_type_does_not_skip_inspection_only_binary_content_does() {
    let xss = "<script>alert(document.cookie)</script>";
    for part_type in ["image/png", "application/octet-stream", "application/vnd.ms-excel", "application/zip"] {
        let v = verdict(multipart(Some("a.png"), part_type, xss));
        assert_eq!(v.action, Action::Block, "{part_type}: {:?}", names(&v));
    }
    let sqli = format!("{}1' UNION SELECT password FROM accounts--,SKU-X,,1.00,1,published\n", products_csv(1024));
    let v = verdict(multipart(Some("products.csv"), "application/octet-stream", &sqli));
    assert_eq!(v.action, Action::Block, "a CSV labelled octet-stream is read: {:?}", names(&v));
    // Real binary content is skipped, whatever it contains after its magic number.
    // Built as bytes: a string would encode 0x89 as two bytes.
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(xss.as_bytes());
    let body = [
        b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
            .as_slice(),
        &bytes,
        b"\r\n--b--\r\n",
    ]
    .concat();
    let req = Request::new("POST", "/admin/stores/tea/products/x/images")
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body);
    assert_eq!(verdict(req).action, Action::Allow, "a PNG is not read as text");
    assert!(
        crate::request::known_binary(b"RIFF\x10\x00\x00\x00WEBPVP8 ")
            && !crate::request::known_binary(b"RIFF\x10\x00\x00\x00AVI LIST")
    );
    assert!(
        crate::request::known_binary(b"age-encryption.org/v1\n-> scrypt")
            && !crate::request::known_binary(b"age-encryption.org/v2")
    );
}

/// `name="alt"; name="description"`: the handler's reader takes the first name, a naive parser the last, so an
/// exception granted for one field would cover the other. Such parts (and doubled headers) are refused.
#[test]
fn a_part_that_repeats_its_name_or_headers_is_refused() {
    for head in [
        "Content-Disposition: form-data; name=\"alt\"; name=\"description\"",
        "Content-Disposition: form-data; name=\"a\"; filename=\"x.csv\"; filename=\"y.csv\"",
        "Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"",
        "Content-Disposition: form-data; name=\"a\"\r\nContent-Type: text/plain\r\nContent-Type: application/json",
    ] {
        let body = format!("--b\r\n{head}\r\n\r\nhello\r\n--b--\r\n");
        let req = Request::new("POST", "/admin/stores/tea/products/x/images")
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body.into_bytes());
        let v = verdict(req);
        assert_eq!(v.action, Action::Block, "{head}: {:?}", names(&v));
        assert!(names(&v).contains(&"protocol.body-unread"), "{head}: {:?}", names(&v));
    }
    let plain = "--b\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nhello\r\n--b--\r\n";
    let req = Request::new("POST", "/admin/stores/tea/products/x/images")
        .header("content-type", "multipart/form-data; boundary=b")
        .body(plain.as_bytes().to_vec());
    assert_eq!(verdict(req).action, Action::Allow);
}
