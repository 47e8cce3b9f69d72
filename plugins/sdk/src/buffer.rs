//! Moving bytes across the boundary: lending slices and handing over owned buffers.
#![allow(unsafe_code)]

use crate::abi::{Buffer, Bytes};

impl Bytes {
    /// Lends `data` for the duration of a call.
    pub fn from_slice(data: &[u8]) -> Bytes {
        Bytes {
            ptr: data.as_ptr(),
            len: data.len(),
        }
    }

    /// Views the lent bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid for `'a`.
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees ptr/len describe live, readable bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Buffer {
    /// Hands a vector over; the receiver must return it to this side's [`Buffer::free`].
    pub fn from_vec(data: Vec<u8>) -> Buffer {
        let mut data = std::mem::ManuallyDrop::new(data);
        Buffer {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            cap: data.capacity(),
        }
    }

    /// Copies the bytes out without taking ownership.
    ///
    /// # Safety
    /// The buffer must come from [`Buffer::from_vec`] (of either side) and not be freed yet.
    pub unsafe fn to_vec(&self) -> Vec<u8> {
        if self.len == 0 {
            return Vec::new();
        }
        // SAFETY: a live buffer holds `len` initialised bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }.to_vec()
    }

    /// Frees a buffer made by [`Buffer::from_vec`] in this same library.
    pub extern "C" fn free(buffer: Buffer) {
        if buffer.ptr.is_null() {
            return;
        }
        // SAFETY: ptr/len/cap come from a Vec<u8> leaked by `from_vec` in this library, and
        // each buffer is freed once by the protocol.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}
