//! A minimal ZIP archive codec for directory import and export: entries are *stored*
//! (uncompressed), which is also what Python's `zipfile` writes by default. Compressed entries
//! are refused with a clear message rather than guessed at.

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ZipError(String);

/// One archive entry: a relative path (`dir/` for folders) and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Path inside the archive, `/`-separated; folders end with `/`.
    pub name: String,
    /// Content (empty for folders).
    pub data: Vec<u8>,
}

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// General-purpose flag bit 11: names are UTF-8.
const UTF8: u16 = 0x0800;
/// 1980-01-01, the earliest DOS date.
const DOS_DATE: u16 = 0x21;

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE), as ZIP uses it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a stored ZIP archive of `entries`.
pub fn write(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        let crc = crc32(&entry.data);
        let size = entry.data.len() as u32;
        let name = entry.name.as_bytes();
        put32(&mut out, LOCAL);
        for v in [20, UTF8, 0, 0, DOS_DATE] {
            put16(&mut out, v);
        }
        for v in [crc, size, size] {
            put32(&mut out, v);
        }
        put16(&mut out, name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(name);
        out.extend_from_slice(&entry.data);

        put32(&mut central, CENTRAL);
        for v in [20, 20, UTF8, 0, 0, DOS_DATE] {
            put16(&mut central, v);
        }
        for v in [crc, size, size] {
            put32(&mut central, v);
        }
        for v in [name.len() as u16, 0, 0, 0, 0] {
            put16(&mut central, v);
        }
        put32(&mut central, 0);
        put32(&mut central, offset);
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    let central_size = central.len() as u32;
    out.extend_from_slice(&central);
    put32(&mut out, END);
    for v in [0, 0, entries.len() as u16, entries.len() as u16] {
        put16(&mut out, v);
    }
    put32(&mut out, central_size);
    put32(&mut out, central_offset);
    put16(&mut out, 0);
    out
}

/// Whether `data` starts like a ZIP archive.
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(&LOCAL.to_le_bytes()) || data.starts_with(&END.to_le_bytes())
}

fn get16(data: &[u8], at: usize) -> Result<u16, ZipError> {
    data.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(truncated)
}

fn get32(data: &[u8], at: usize) -> Result<u32, ZipError> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(truncated)
}

fn truncated() -> ZipError {
    ZipError("the zip archive is truncated or corrupt".to_owned())
}

/// Reads every entry of a stored ZIP archive.
pub fn read(data: &[u8]) -> Result<Vec<Entry>, ZipError> {
    let end = (0..=data.len().saturating_sub(22))
        .rev()
        .find(|&i| get32(data, i) == Ok(END))
        .ok_or_else(|| ZipError("the content is not a zip archive".to_owned()))?;
    let count = get16(data, end + 10)? as usize;
    let mut at = get32(data, end + 16)? as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if get32(data, at)? != CENTRAL {
            return Err(truncated());
        }
        let method = get16(data, at + 10)?;
        let crc = get32(data, at + 16)?;
        let size = get32(data, at + 20)? as usize;
        let name_len = get16(data, at + 28)? as usize;
        let extra_len = get16(data, at + 30)? as usize;
        let comment_len = get16(data, at + 32)? as usize;
        let local = get32(data, at + 42)? as usize;
        let name = data
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).into_owned();
        if method != 0 {
            return Err(ZipError(format!(
                "the zip entry {name} is compressed; the emulator reads only stored \
                 (uncompressed) entries"
            )));
        }
        if get32(data, local)? != LOCAL {
            return Err(truncated());
        }
        let start =
            local + 30 + get16(data, local + 26)? as usize + get16(data, local + 28)? as usize;
        let body = data.get(start..start + size).ok_or_else(truncated)?;
        if crc32(body) != crc {
            return Err(ZipError(format!(
                "the zip entry {name} fails its CRC check"
            )));
        }
        entries.push(Entry {
            name,
            data: body.to_vec(),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip() {
        let entries = vec![
            Entry {
                name: "d/".into(),
                data: vec![],
            },
            Entry {
                name: "d/nb.py".into(),
                data: b"# Databricks notebook source\nx".to_vec(),
            },
        ];
        let zip = write(&entries);
        assert!(is_zip(&zip));
        assert_eq!(read(&zip).unwrap(), entries);
        assert!(read(b"plain text").is_err());
        let mut corrupt = zip.clone();
        let at = zip.windows(8).position(|w| w == b"notebook").unwrap();
        corrupt[at] ^= 0xFF;
        assert!(read(&corrupt).is_err());
    }
}
