// SPDX-License-Identifier: GPL-2.0

//! The refdax file system: `mount -t refdax none DIR`.
//!
//! File data lives in refdax's pmem blocks and is mapped with refdax's own FS DAX folios;
//! metadata (names, inodes, block maps) lives in DRAM and goes away at unmount, when every
//! block returns to the pool. One mount at a time: a second gets `EBUSY`.

use crate::{
    abstractions::{
        fs::{
            Extent, Fallocate, FileSystem, Inode, InvalidateGuard, LockedInode, MountOptions, Seek,
            StatFs,
        },
        iov::{IovIterDest, IovIterSource},
        mm::fault::{HugeFaultResult, VmFault, VmFaultResult},
    },
    device::Device,
    file::FileData,
};
use kernel::{prelude::*, sync::Arc};

/// The file system type.
pub(crate) struct RefdaxFs;

/// A mounted refdax: holds the device, and its claim on being the only mount.
pub(crate) struct Mount {
    dev: Arc<Device>,
    options: MountOptions,
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.dev.set_mounted(false);
    }
}

impl FileSystem for RefdaxFs {
    const NAME: &'static CStr = c"refdax";
    const MAGIC: u64 = 0x5244_4158; // "RDAX"
                                    // Far beyond any pmem range; the block map costs 8 bytes per 2 MiB of file offset used.
    const MAX_BYTES: u64 = 1 << 40;

    type Data = Arc<Device>;
    type Sb = Mount;
    type File = Pin<KBox<FileData>>;

    fn mount(dev: &Arc<Device>, options: MountOptions) -> Result<Mount> {
        if !dev.set_mounted(true) {
            pr_debug!("refusing a second mount of the same range\n");
            return Err(EBUSY);
        }
        Ok(Mount {
            dev: dev.clone(),
            options,
        })
    }

    fn statfs(sb: &Mount) -> StatFs {
        let (free, _) = sb.dev.pool().counts();
        StatFs {
            blocks: sb.dev.pool().total() as u64,
            free: free as u64,
        }
    }

    fn new_file(_sb: &Mount) -> Result<Self::File> {
        KBox::pin_init(FileData::new(), GFP_KERNEL)
    }

    fn read(
        sb: &Mount,
        inode: &Inode,
        file: &Self::File,
        pos: u64,
        iter: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        file.read(&sb.dev, inode, pos, iter)
    }

    fn write(
        sb: &Mount,
        inode: &LockedInode<'_>,
        file: &Self::File,
        pos: u64,
        iter: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        file.write(&sb.dev, inode, pos, iter)
    }

    fn set_size(sb: &Mount, inode: &LockedInode<'_>, file: &Self::File, size: u64) -> Result {
        file.set_size(&sb.dev, inode, size)
    }

    fn fallocate(
        sb: &Mount,
        inode: &LockedInode<'_>,
        file: &Self::File,
        mode: Fallocate,
        offset: u64,
        len: u64,
    ) -> Result {
        match mode {
            Fallocate::Allocate => file.allocate(&sb.dev, inode, offset, len, false),
            Fallocate::AllocateKeepSize => file.allocate(&sb.dev, inode, offset, len, true),
            Fallocate::PunchHole => file.punch_hole(&sb.dev, inode, offset, len),
            Fallocate::ZeroRange => file.zero_range(&sb.dev, inode, offset, len, false),
            Fallocate::ZeroRangeKeepSize => file.zero_range(&sb.dev, inode, offset, len, true),
            Fallocate::CollapseRange => file.collapse_range(&sb.dev, inode, offset, len),
            Fallocate::InsertRange => file.insert_range(&sb.dev, inode, offset, len),
        }
    }

    fn seek(_sb: &Mount, inode: &Inode, file: &Self::File, from: u64, whence: Seek) -> Result<u64> {
        file.seek(inode, from, whence == Seek::Hole)
    }

    fn fiemap(
        sb: &Mount,
        inode: &Inode,
        file: &Self::File,
        start: u64,
        end: u64,
        emit: &mut dyn FnMut(Extent) -> Result<bool>,
    ) -> Result {
        file.fiemap(&sb.dev, inode, start, end, emit)
    }

    fn fault<'a>(
        sb: &Mount,
        inode: &Inode,
        file: &Self::File,
        vmf: &'a VmFault,
    ) -> VmFaultResult<'a> {
        file.fault(&sb.dev, inode, vmf)
    }

    fn huge_fault(sb: &Mount, inode: &Inode, file: &Self::File, vmf: &VmFault) -> HugeFaultResult {
        file.huge_fault(&sb.dev, inode, vmf, sb.options.pte_only)
    }

    fn evict(sb: &Mount, inode: &InvalidateGuard<'_>, file: &Self::File) {
        file.evict(&sb.dev, inode);
    }
}
