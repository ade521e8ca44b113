//! The scoring trigger's tuple code: finding a column of a relation, writing a float8 in
//! place in the executor's own copy of a row, and appending a score to a row whose only
//! NULL is its last column. Each relies on the heap tuple layout; the trigger
//! (`classify::trigger`) decides when each applies.

use std::ffi::CStr;

use pgrx::pg_sys;

/// The attribute number and type of column `name` of the relation, if it is there.
///
/// # Safety
/// `tupdesc` must be a valid descriptor (the firing trigger's relation's).
pub unsafe fn column(tupdesc: pg_sys::TupleDesc, name: &str) -> Option<(i32, pg_sys::Oid)> {
    // SAFETY: a valid descriptor with natts attributes.
    unsafe {
        (0..(*tupdesc).natts as usize).find_map(|i| {
            let att = &*(*tupdesc).attrs.as_ptr().add(i);
            let att_name = CStr::from_ptr(att.attname.data.as_ptr()).to_string_lossy();
            (!att.attisdropped && att_name == name).then_some((att.attnum as i32, att.atttypid))
        })
    }
}

/// The byte offset, in `tuple`'s data area, of the non-NULL float8 attribute at index
/// `at` (0-based), when the tuple may be written in place: it is the heap tuple that
/// `slot` owns (the executor's materialized copy of the new row, not a buffer page and
/// not a copy it would throw away) and holds that attribute. None otherwise.
///
/// # Safety
/// `slot` (possibly NULL), `tuple` and `tupdesc` come from the firing trigger.
pub unsafe fn in_place_offset(slot: *mut pg_sys::TupleTableSlot, tuple: pg_sys::HeapTuple, tupdesc: pg_sys::TupleDesc, at: usize) -> Option<usize> {
    // SAFETY (whole fn): reading the executor's slot and the tuple it owns.
    unsafe {
        if slot.is_null() {
            return None;
        }
        let ops = (*slot).tts_ops;
        let heap_slot = std::ptr::eq(ops, &raw const pg_sys::TTSOpsBufferHeapTuple) || std::ptr::eq(ops, &raw const pg_sys::TTSOpsHeapTuple);
        if !heap_slot || (*(slot as *mut pg_sys::HeapTupleTableSlot)).tuple != tuple || (*slot).tts_flags & pg_sys::TTS_FLAG_SHOULDFREE as u16 == 0 {
            return None;
        }
        let header = (*tuple).t_data;
        let natts = ((*header).t_infomask2 & pg_sys::HEAP_NATTS_MASK as u16) as usize;
        if at >= natts || at >= (*tupdesc).natts as usize {
            return None;
        }
        let has_nulls = (*header).t_infomask & pg_sys::HEAP_HASNULL as u16 != 0;
        let bits = (*header).t_bits.as_ptr();
        let is_null = |i: usize| has_nulls && *bits.add(i >> 3) & (1 << (i & 7)) == 0;
        if is_null(at) {
            return None;
        }
        let data = (header as *const u8).add((*header).t_hoff as usize);
        let attrs = (*tupdesc).attrs.as_slice((*tupdesc).natts as usize);
        let align = |offset: usize, alignment: u8| {
            let a = match alignment {
                b'd' => 8,
                b'i' => 4,
                b's' => 2,
                _ => 1,
            };
            offset.div_ceil(a) * a
        };
        // Walk the attributes before `at` as heap_deform_tuple does.
        let mut offset = 0usize;
        for (i, att) in attrs.iter().enumerate().take(at) {
            if is_null(i) {
                continue;
            }
            if att.attlen == -1 {
                // A varlena is aligned unless it starts with a short (1-byte) header.
                if *data.add(offset) == 0 {
                    offset = align(offset, att.attalign as u8);
                }
                offset += pgrx::varsize_any(data.add(offset) as *const pg_sys::varlena);
            } else if att.attlen == -2 {
                offset = align(offset, att.attalign as u8);
                offset += std::ffi::CStr::from_ptr(data.add(offset) as *const std::ffi::c_char).to_bytes_with_nul().len();
            } else {
                offset = align(offset, att.attalign as u8) + att.attlen as usize;
            }
        }
        let target = &attrs[at];
        (target.attlen == 8 && target.atttypid == pg_sys::FLOAT8OID).then(|| align(offset, target.attalign as u8))
    }
}

/// Whether `tuple` holds every attribute of `tupdesc`, all non-NULL but the last, which
/// is the float8 score at index `score_at`.
///
/// # Safety
/// `tuple` and `tupdesc` come from the firing trigger.
pub unsafe fn score_is_the_only_null_and_last(tuple: pg_sys::HeapTuple, tupdesc: pg_sys::TupleDesc, score_at: usize) -> bool {
    // SAFETY (whole fn): the trigger's tuple and descriptor.
    unsafe {
        let natts = (*tupdesc).natts as usize;
        let header = (*tuple).t_data;
        if score_at + 1 != natts
            || ((*header).t_infomask2 & pg_sys::HEAP_NATTS_MASK as u16) as usize != natts
            || (*header).t_infomask & pg_sys::HEAP_HASNULL as u16 == 0
        {
            return false;
        }
        let att = &(*tupdesc).attrs.as_slice(natts)[score_at];
        if att.atttypid != pg_sys::FLOAT8OID || att.attlen != 8 || !att.attbyval || att.attalign as u8 != b'd' {
            return false;
        }
        let bits = (*header).t_bits.as_ptr();
        let present = |i: usize| *bits.add(i >> 3) & (1 << (i & 7)) != 0;
        (0..score_at).all(present) && !present(score_at)
    }
}

/// A copy of `tuple` (shaped as `score_is_the_only_null_and_last` says) without its null
/// bitmap and with `score` as its last attribute: attribute offsets are relative to the
/// data start, which is maximally aligned in both tuples, so the data copies as is.
///
/// # Safety
/// As `score_is_the_only_null_and_last`, which must have returned true.
pub unsafe fn with_score_appended(tuple: pg_sys::HeapTuple, score: f64) -> pg_sys::HeapTuple {
    const MAXALIGN: usize = 8;
    let maxalign = |n: usize| n.div_ceil(MAXALIGN) * MAXALIGN;
    // SAFETY (whole fn): the source tuple is valid; the new one is allocated whole here.
    unsafe {
        let old_header = (*tuple).t_data;
        let old_hoff = (*old_header).t_hoff as usize;
        let data_len = (*tuple).t_len as usize - old_hoff;
        let fixed_header = std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_bits);
        let new_hoff = maxalign(fixed_header);
        let score_offset = maxalign(data_len);
        let new_len = new_hoff + score_offset + std::mem::size_of::<f64>();
        let tuple_struct = maxalign(std::mem::size_of::<pg_sys::HeapTupleData>());
        let result = pg_sys::palloc0(tuple_struct + new_len) as pg_sys::HeapTuple;
        let header = (result as *mut u8).add(tuple_struct) as pg_sys::HeapTupleHeader;
        (*result).t_len = new_len as u32;
        (*result).t_self = (*tuple).t_self;
        (*result).t_tableOid = (*tuple).t_tableOid;
        (*result).t_data = header;
        std::ptr::copy_nonoverlapping(old_header as *const u8, header as *mut u8, fixed_header);
        (*header).t_hoff = new_hoff as u8;
        (*header).t_infomask &= !(pg_sys::HEAP_HASNULL as u16);
        // The datum length word of a formed tuple (SET_VARSIZE: the length shifted left 2).
        (*header).t_choice.t_datum.datum_len_ = (new_len as i32) << 2;
        let data = (header as *mut u8).add(new_hoff);
        std::ptr::copy_nonoverlapping((old_header as *const u8).add(old_hoff), data, data_len);
        std::ptr::write_unaligned(data.add(score_offset) as *mut f64, score);
        result
    }
}
