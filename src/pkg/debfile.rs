//! Reading a .deb: the `ar` members and the `control` file of its `control.tar.*`
//! (what an apt index needs), without dpkg.

use crate::error::{Error, Result};
use std::io::Read;

/// The members of an `ar` archive, `(name, bytes)` in order.
pub fn ar_members(bytes: &[u8]) -> Result<Vec<(String, &[u8])>> {
    const MAGIC: &[u8] = b"!<arch>\n";
    if !bytes.starts_with(MAGIC) {
        return Err(Error::input("not a .deb: no '!<arch>' ar header"));
    }
    let mut out = Vec::new();
    let mut at = MAGIC.len();
    while at + 60 <= bytes.len() {
        let h = &bytes[at..at + 60];
        let name = String::from_utf8_lossy(&h[0..16]).trim_end().trim_end_matches('/').to_string();
        let size: usize = String::from_utf8_lossy(&h[48..58])
            .trim()
            .parse()
            .map_err(|_| Error::input(format!("not a .deb: bad ar size of member {name:?}")))?;
        let start = at + 60;
        let end = start
            .checked_add(size)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| Error::input(format!("not a .deb: member {name:?} runs past the end")))?;
        out.push((name, &bytes[start..end]));
        at = end + (size % 2);
    }
    Ok(out)
}

/// The bytes of a .deb member `name` (`control.tar.xz`, `data.tar.gz`, ...), decompressed.
pub fn decompress(name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let r = if name.ends_with(".xz") {
        xz2::read::XzDecoder::new(data).read_to_end(&mut out)
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(data).read_to_end(&mut out)
    } else if name.ends_with(".tar") {
        out.extend_from_slice(data);
        Ok(out.len())
    } else {
        return Err(Error::input(format!(
            "a .deb member {name:?} uses a compression this tool does not read"
        )));
    };
    r.map_err(|e| Error::input(format!("cannot decompress {name}: {e}")))?;
    Ok(out)
}

/// The `control` file of a .deb.
pub fn control(bytes: &[u8]) -> Result<String> {
    let members = ar_members(bytes)?;
    let (name, data) = members
        .iter()
        .find(|(n, _)| n.starts_with("control.tar"))
        .ok_or_else(|| Error::input("not a .deb: no control.tar member"))?;
    let tar_bytes = decompress(name, data)?;
    let mut ar = tar::Archive::new(&tar_bytes[..]);
    for e in ar.entries().map_err(|e| Error::input(format!("{name}: {e}")))? {
        let mut e = e.map_err(|e| Error::input(format!("{name}: {e}")))?;
        let p = e
            .path()
            .map_err(|e| Error::input(format!("{name}: {e}")))?
            .to_string_lossy()
            .to_string();
        if p == "./control" || p == "control" {
            let mut s = String::new();
            e.read_to_string(&mut s)
                .map_err(|e| Error::input(format!("{name}: control: {e}")))?;
            return Ok(s);
        }
    }
    Err(Error::input(format!("not a .deb: {name} has no control file")))
}

/// One field of a control paragraph (first line only; continuation lines are not joined).
pub fn field<'a>(paragraph: &'a str, name: &str) -> Option<&'a str> {
    paragraph.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (!l.starts_with(' ') && k.eq_ignore_ascii_case(name)).then(|| v.trim())
    })
}
