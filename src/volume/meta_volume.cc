// MetaVolume: positional I/O on the extents' files and RBD images. Each I/O
// takes a snapshot of the immutable State (extent map + backends), so Append
// never blocks readers.
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "util/countdown.h"
#include "volume/cache.h"
#include "volume/rbd_backend.h"
#include "volume/volume.h"

namespace vsl::volume {
namespace {

// An RBD clone's objects, for the cache: a block of an object the clone has
// not written reads through to the parent's snapshot, so it is cached under
// the parent's id, shared with every sibling.
struct CloneMap {
  uint64_t parent_id = 0;  // BlockCache id of the parent snapshot
  uint64_t overlap = 0;
  uint64_t object_size = 0;
  size_t objects = 0;
  std::unique_ptr<std::atomic<bool>[]> written;
  ~CloneMap() { BlockCache::Global().Release(parent_id); }
};

// An extent's backend, shared by every extent that lives in it, across
// States: an open file, or an open RBD image (rbd set, fd -1).
struct File {
  std::string path;
  std::string key;  // identifies the file or image among a volume's backends
  int fd = -1;
  std::shared_ptr<RbdBackend> rbd;
  bool in_memory = false;  // tmpfs/ramfs: I/O never waits for a disk
  bool null = false;       // a null extent: no fd, writes vanish, reads are zeros
  // Inline (no-wait) writes to a page-cache file: whether pwritev2 takes
  // RWF_NOWAIT for buffered writes here (xfs, btrfs do; ext4 and tmpfs say
  // EOPNOTSUPP), and until when (steady-clock ns) writes stay off the
  // caller's thread because an inline one was slow.
  mutable std::atomic<bool> nowait_writes{true};
  mutable std::atomic<int64_t> inline_off_until{0};
  mutable std::atomic<int64_t> inline_backoff{0};  // ns; the last back-off's length
  mutable std::atomic<bool> last_inline_slow{false};  // the last inline write was slow
  uint64_t cache_id = 0;            // BlockCache id of the file or image; 0: not cached
  std::unique_ptr<CloneMap> clone;  // an RBD clone's objects, when the cache is on
  ~File() {
    BlockCache::Global().Release(cache_id);
    if (fd >= 0) ::close(fd);
  }
};

Result<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("fstat " + path, errno);
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) return ErrnoError("BLKGETSIZE64 " + path, errno);
    return bytes;
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + " is neither a regular file nor a block device");
  return uint64_t(st.st_size);
}

std::string Where(const std::string& path, uint64_t off) {
  return path + " at offset " + std::to_string(off);
}

// pread/pwrite until done: restarts after EINTR and short transfers.
Status ReadFull(const File& f, uint64_t off, uint8_t* p, uint64_t n) {
  if (f.null) {
    std::memset(p, 0, n);
    return Status::Ok();
  }
  if (f.rbd) return RbdRead(*f.rbd, off, p, n);
  while (n > 0) {
    ssize_t r = ::pread(f.fd, p, std::min<uint64_t>(n, 1u << 30), off_t(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + Where(f.path, off), errno);
    }
    if (r == 0) {
      // Past the end of a file that shrank under us: what is not there reads as zeros.
      std::memset(p, 0, n);
      return Status::Ok();
    }
    p += r;
    off += uint64_t(r);
    n -= uint64_t(r);
  }
  return Status::Ok();
}

Status WriteFull(const File& f, uint64_t off, const uint8_t* p, uint64_t n) {
  if (f.null) return Status::Ok();
  if (f.rbd) return RbdWrite(*f.rbd, off, p, n);
  while (n > 0) {
    ssize_t r = ::pwrite(f.fd, p, std::min<uint64_t>(n, 1u << 30), off_t(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + Where(f.path, off), errno);
    }
    if (r == 0) return IoError("write " + Where(f.path, off) + ": no progress");
    p += r;
    off += uint64_t(r);
    n -= uint64_t(r);
  }
  return Status::Ok();
}

Status Sync(const File& f) {
  if (f.null) return Status::Ok();
  if (f.rbd) return RbdFlush(*f.rbd);
  while (::fdatasync(f.fd) != 0) {
    if (errno != EINTR) return ErrnoError("fdatasync " + f.path, errno);
  }
  return Status::Ok();
}

Status WriteZeros(const File& f, uint64_t off, uint64_t n) {
  static const std::vector<uint8_t> zeros(1 << 20);
  while (n > 0) {
    uint64_t k = std::min<uint64_t>(n, zeros.size());
    VSL_RETURN_IF_ERROR(WriteFull(f, off, zeros.data(), k));
    off += k;
    n -= k;
  }
  return Status::Ok();
}

}  // namespace

struct MetaVolume::State {
  ExtentMap map;
  std::vector<std::shared_ptr<File>> files;  // files[i]: extent i's file

};

// A live migration's mirror. Every write and every step of the background
// copy registers its byte range here while it runs (Begin .. End). Two that
// overlap in bytes and in time may reach the mirror in another order than
// this volume: the bytes they share are marked as conflicts when each of
// them ends (the later end is the one that counts), and the migration
// copies those chunks again. Two that do not overlap in time are ordered
// the same on both sides (each wrote the mirror before it ended), and bytes
// only one of them wrote have one order, so nothing else can differ.
struct MetaVolume::Mirror {
  explicit Mirror(std::shared_ptr<MetaVolume> d) : dst(std::move(d)) { conflicts.Enable(dst->size()); }

  // 0 once the mirror is stopped: the write then leaves the mirror alone.
  uint64_t Begin(uint64_t offset, uint64_t length) {
    std::lock_guard<std::mutex> l(mu);
    if (stopped) return 0;
    Op op{next_id++, offset, length, {}};
    for (Op& o : ops) {
      const uint64_t from = std::max(o.offset, offset), to = std::min(o.offset + o.length, offset + length);
      if (from >= to) continue;
      o.Share(from, to - from);
      op.Share(from, to - from);
    }
    ops.push_back(std::move(op));
    return ops.back().id;
  }
  void End(uint64_t id) {
    std::lock_guard<std::mutex> l(mu);
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].id != id) continue;
      for (const auto& [from, n] : ops[i].shared) conflicts.Mark(from, n);
      ops[i] = std::move(ops.back());
      ops.pop_back();
      break;
    }
    if (ops.empty()) idle.notify_all();
  }
  void Fail(const Status& st) {
    std::lock_guard<std::mutex> l(mu);
    if (error.ok()) error = st;
  }

  const std::shared_ptr<MetaVolume> dst;
  struct Op {
    uint64_t id, offset, length;
    std::vector<std::pair<uint64_t, uint64_t>> shared;  // bytes another op wrote meanwhile
    // A long copy that many writes overlap (a stalled destination) keeps at
    // most kMaxShared ranges: past them its whole range counts as shared
    // (marking more is always safe), so a host cannot grow the list.
    static constexpr size_t kMaxShared = 64;
    void Share(uint64_t from, uint64_t n) {
      if (shared.size() == 1 && shared[0].first == offset && shared[0].second == length) return;
      if (shared.size() < kMaxShared) {
        shared.emplace_back(from, n);
      } else {
        shared.assign(1, {offset, length});
      }
    }
  };
  mutable std::mutex mu;
  std::condition_variable idle;  // ops became empty
  bool stopped = false;          // guarded by mu
  uint64_t next_id = 1;          // guarded by mu
  // Running writes and copies: at most the gateway's writes in flight + 1,
  // each with at most Op::kMaxShared shared ranges.
  std::vector<Op> ops;
  ChangeMap conflicts;           // chunks to copy again
  Status error;                  // guarded by mu
};

// One write's registration with the mirror, ended (and its conflict marked)
// when the last copy of it goes. Empty when no mirror is on.
class MetaVolume::MirrorTicket {
 public:
  MirrorTicket() = default;
  MirrorTicket(std::shared_ptr<Mirror> m, uint64_t offset, uint64_t length) : m_(std::move(m)) {
    id_ = m_->Begin(offset, length);
    if (id_ == 0) m_.reset();
  }
  MirrorTicket(MirrorTicket&& o) noexcept : m_(std::move(o.m_)), id_(std::exchange(o.id_, 0)) {}
  MirrorTicket& operator=(MirrorTicket&& o) noexcept {
    End();
    m_ = std::move(o.m_);
    id_ = std::exchange(o.id_, 0);
    return *this;
  }
  ~MirrorTicket() { End(); }
  explicit operator bool() const { return m_ != nullptr; }
  MetaVolume& dst() const { return *m_->dst; }
  // A write to the mirror failed: the host's write stands, the migration fails.
  void Check(const Status& st) const {
    if (!st.ok()) m_->Fail(st.Annotate("migration destination"));
  }
  void End() {
    if (m_) m_->End(id_);
    m_.reset();
    id_ = 0;
  }

 private:
  std::shared_ptr<Mirror> m_;
  uint64_t id_ = 0;
};

MetaVolume::MirrorTicket MetaVolume::MirrorFor(uint64_t offset, uint64_t length) {
  if (!has_mirror_.load(std::memory_order_acquire)) return {};
  std::shared_ptr<Mirror> m;
  {
    std::lock_guard<std::mutex> l(mu_);
    m = mirror_;
  }
  if (!m) return {};
  return MirrorTicket(std::move(m), offset, length);
}

namespace {
// Both halves of an asynchronous write while a mirror is on: the caller's
// `done` gets the primary's status once the primary's part and the
// mirror's part have finished (the ticket ends just before).
template <class Ticket>
struct MirrorJoin {
  MirrorJoin(Ticket t, MetaVolume::IoDone d) : ticket(std::move(t)), done(std::move(d)) {}
  MetaVolume::IoDone Primary() {
    return [this](Status st) {
      primary = std::move(st);
      Finish();
    };
  }
  MetaVolume::IoDone Mirror() {
    return [this](Status st) {
      ticket.Check(st);
      Finish();
    };
  }
  void Finish() {
    if (left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    ticket.End();
    MetaVolume::IoDone d = std::move(done);
    Status st = std::move(primary);
    delete this;
    d(std::move(st));
  }
  std::atomic<int> left{2};
  Status primary;
  Ticket ticket;
  MetaVolume::IoDone done;
};
}  // namespace

namespace {
// The pieces of one I/O; no allocation when it stays inside one extent.
struct PieceList {
  Piece one;
  std::vector<Piece> many;
  std::span<const Piece> all;
};

Status MapRange(const ExtentMap& map, uint64_t offset, uint64_t length, PieceList& out) {
  if (map.MapOne(offset, length, &out.one)) {
    out.all = std::span<const Piece>(&out.one, 1);
    return Status::Ok();
  }
  auto m = map.Map(offset, length);
  if (!m.ok()) return m.status();
  out.many = std::move(*m);
  out.all = out.many;
  return Status::Ok();
}

}  // namespace

MetaVolume::MetaVolume(VolumeOptions options) : options_(std::move(options)) {}
MetaVolume::~MetaVolume() = default;

namespace {
// The file's id in the cache; for a writable RBD clone, its parent's too and
// which objects the clone holds already.
Status JoinCache(File& f, const std::string& key, const RbdImage& where, bool read_only) {
  BlockCache& c = BlockCache::Global();
  if (!c.enabled()) return Status::Ok();
  f.cache_id = c.Acquire(key);
  if (read_only) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(auto parent, RbdCloneParent(*f.rbd, where));
  if (!parent) return Status::Ok();
  auto m = std::make_unique<CloneMap>();
  m->parent_id = c.Acquire("rbd-parent\n" + parent->key);
  m->overlap = parent->overlap;
  m->object_size = parent->object_size;
  m->objects = parent->written.size();
  m->written.reset(new std::atomic<bool>[m->objects]);
  for (size_t i = 0; i < m->objects; ++i) m->written[i].store(parent->written[i]);
  f.clone = std::move(m);
  return Status::Ok();
}

// ---- the read cache's part of each I/O (volume/cache.h) ----
constexpr uint64_t kCacheBlock = BlockCache::kBlock;
// Reads longer than this go around the cache (a scan would flush it).
constexpr uint64_t kMaxCachedRead = uint64_t(1) << 20;

bool Cacheable(const File& f, uint64_t off, uint64_t n) {
  return f.cache_id != 0 && off % kCacheBlock == 0 && n % kCacheBlock == 0 && n <= kMaxCachedRead;
}

// Where a piece's read goes with the cache on. A piece of whole aligned
// blocks reads itself. One that is not (a BIOS or boot loader reads 512
// bytes at a time) reads the aligned blocks around it into `wide`, when
// those lie inside its extent and within kMaxCachedRead, so that its blocks
// are cached for the next sector and for the siblings; the asked bytes are
// copied out of `wide` afterwards (CopyOut). cached false: around the cache.
struct CacheRange {
  bool cached = false;
  uint64_t off = 0, len = 0;
  uint8_t* dst = nullptr;
  std::shared_ptr<std::vector<uint8_t>> wide;
  uint64_t skip = 0;  // the asked bytes' place in `wide`
};
CacheRange RangeOf(bool use_cache, const File& f, const Extent& e, const Piece& p, uint8_t* dst) {
  CacheRange r{false, p.file_offset, p.length, dst, nullptr, 0};
  if (!use_cache || f.cache_id == 0 || p.length == 0) return r;
  if (Cacheable(f, p.file_offset, p.length)) {
    r.cached = true;
    return r;
  }
  const uint64_t a = p.file_offset / kCacheBlock * kCacheBlock;
  const uint64_t b = (p.file_offset + p.length + kCacheBlock - 1) / kCacheBlock * kCacheBlock;
  if (a < e.offset || b > e.offset + e.length || b - a > kMaxCachedRead) return r;
  r.cached = true;
  r.off = a;
  r.len = b - a;
  r.wide = std::make_shared<std::vector<uint8_t>>(r.len);
  r.dst = r.wide->data();
  r.skip = p.file_offset - a;
  return r;
}
// The asked bytes, from `wide` when the read was widened.
void CopyOut(const CacheRange& r, uint8_t* dst, uint64_t n) {
  if (r.wide) std::memcpy(dst, r.wide->data() + r.skip, n);
}

// Whether block `blk` of a clone still reads through to the parent.
bool FromParent(const CloneMap& m, uint64_t blk) {
  const uint64_t end = (blk + 1) * kCacheBlock;
  if (end > m.overlap) return false;
  const uint64_t obj = blk * kCacheBlock / m.object_size;
  return obj < m.objects && !m.written[obj].load(std::memory_order_seq_cst);
}

uint64_t IdOf(const File& f, uint64_t blk) {
  return f.clone && FromParent(*f.clone, blk) ? f.clone->parent_id : f.cache_id;
}

// All of [off, off+n) from the cache, or false (out then holds junk).
bool CacheRead(const File& f, uint64_t off, uint8_t* out, uint64_t n) {
  BlockCache& c = BlockCache::Global();
  for (uint64_t k = 0; k < n; k += kCacheBlock) {
    const uint64_t blk = (off + k) / kCacheBlock;
    if (!c.Get(IdOf(f, blk), blk, out + k)) return false;
  }
  return true;
}

// Taken before the backend read: under which id, at which generation, each block may be installed.
struct Ticket {
  uint64_t id, gen;
};
std::vector<Ticket> CacheTickets(const File& f, uint64_t off, uint64_t n) {
  BlockCache& c = BlockCache::Global();
  std::vector<Ticket> t;
  t.reserve(n / kCacheBlock);
  for (uint64_t k = 0; k < n; k += kCacheBlock) {
    const uint64_t blk = (off + k) / kCacheBlock;
    if (f.clone && FromParent(*f.clone, blk)) {
      // The generation first, then the object's bit again: a write that
      // marks the object after this look bumps the parent's generation
      // after it too, so what this read brings back is not installed.
      const uint64_t gen = c.Gen(f.clone->parent_id, blk);
      if (FromParent(*f.clone, blk)) {
        t.push_back({f.clone->parent_id, gen});
        continue;
      }
    }
    t.push_back({f.cache_id, c.Gen(f.cache_id, blk)});
  }
  return t;
}

void CacheFill(uint64_t off, const uint8_t* data, uint64_t n, const std::vector<Ticket>& t) {
  BlockCache& c = BlockCache::Global();
  for (uint64_t k = 0, i = 0; k < n && i < t.size(); k += kCacheBlock, ++i)
    c.Put(t[i].id, (off + k) / kCacheBlock, data + k, t[i].gen);
}

// Reads of the same blocks in flight (a boot storm: sibling clones read the
// parent's blocks in the same order at the same time): a read that misses
// joins the one already asking the backend for exactly its blocks, under
// the same ids, when no write has completed there since that one took its
// tickets (same generations), and copies its bytes when it finishes, if
// the generations are still the same then. Otherwise (a clone started
// writing that object: the leader may have read the clone's new bytes,
// which are no sibling's) each waiter reads its own image.
struct FlightKey {
  uint64_t id, off, len;
  bool operator<(const FlightKey& o) const {
    return std::tie(id, off, len) < std::tie(o.id, o.off, o.len);
  }
};
struct Flight {
  std::vector<Ticket> tickets;
  // Called with the bytes, or with nullptr: read your own.
  std::vector<std::function<void(const uint8_t*, const Status&)>> waiters;  // guarded by flights_mu
};
std::mutex flights_mu;
std::map<FlightKey, std::shared_ptr<Flight>>& Flights() {
  static auto* m = new std::map<FlightKey, std::shared_ptr<Flight>>;  // guarded by flights_mu
  return *m;
}
bool SameTickets(const std::vector<Ticket>& a, const std::vector<Ticket>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].id != b[i].id || a[i].gen != b[i].gen) return false;
  return true;
}
// No write has touched the blocks of [off, ...) since the tickets were taken.
bool TicketsCurrent(uint64_t off, const std::vector<Ticket>& t) {
  for (size_t i = 0; i < t.size(); ++i)
    if (BlockCache::Global().Gen(t[i].id, off / kCacheBlock + i) != t[i].gen) return false;
  return true;
}
bool OneId(const std::vector<Ticket>& t) {
  for (const Ticket& x : t)
    if (x.id != t[0].id) return false;
  return !t.empty();
}

// Before a write of [off, off+n) of `f` starts: a clone's objects there are
// its own from now on (reads after this one key them by the clone), and
// reads of the parent's blocks in flight will not install what they read.
void CacheBeforeWrite(const File& f, uint64_t off, uint64_t n) {
  if (!f.clone || n == 0) return;
  const CloneMap& m = *f.clone;
  for (uint64_t o = off / m.object_size; o * m.object_size < off + n && o < m.objects; ++o)
    m.written[o].store(true, std::memory_order_seq_cst);
  const uint64_t first = off / kCacheBlock, last = (off + n + kCacheBlock - 1) / kCacheBlock;
  BlockCache::Global().Bump(m.parent_id, first, last - first);
}

// After a write's bytes reached `f`, before it completes: its blocks are dropped.
void CacheAfterWrite(const File& f, uint64_t off, uint64_t n) {
  if (f.cache_id == 0 || n == 0) return;
  const uint64_t first = off / kCacheBlock, last = (off + n + kCacheBlock - 1) / kCacheBlock;
  BlockCache::Global().Invalidate(f.cache_id, first, last - first);
}

// The cache's part of a write of volume bytes [offset, offset+length):
// before it starts, or after its bytes are written (see CacheBeforeWrite,
// CacheAfterWrite). Nothing to do without a cache.
void CacheWrite(const ExtentMap& map, const std::vector<std::shared_ptr<File>>& files,
                uint64_t offset, uint64_t length, bool before) {
  if (!BlockCache::Global().enabled() || length == 0) return;
  auto pieces = map.Map(offset, length);
  if (!pieces.ok()) return;
  for (const Piece& p : *pieces) {
    const File& f = *files[p.extent];
    if (before) {
      CacheBeforeWrite(f, p.file_offset, p.length);
    } else {
      CacheAfterWrite(f, p.file_offset, p.length);
    }
  }
}

// Runs the after-write part when a synchronous write path returns, however it returns.
struct AfterWrite {
  const ExtentMap& map;
  const std::vector<std::shared_ptr<File>>& files;
  uint64_t offset, length;
  ~AfterWrite() { CacheWrite(map, files, offset, length, false); }
};
// Opens the files of `extents` not yet in `open` (by path), checking sizes.
Result<std::vector<std::shared_ptr<File>>> OpenFiles(
    const std::vector<Extent>& extents, bool read_only,
    std::map<std::string, std::shared_ptr<File>>& open) {
  std::vector<std::shared_ptr<File>> files;
  for (const Extent& e : extents) {
    if (e.rbd) {
      const std::string key = "rbd\n" + RbdKey(*e.rbd);
      auto it = open.find(key);
      if (it == open.end()) {
        auto f = std::make_shared<File>();
        f->path = RbdName(*e.rbd);
        f->key = key;
        VSL_ASSIGN_OR_RETURN(f->rbd, OpenRbd(*e.rbd, read_only));
        VSL_RETURN_IF_ERROR(JoinCache(*f, key, *e.rbd, read_only));
        it = open.emplace(key, std::move(f)).first;
      }
      const uint64_t size = RbdSize(*it->second->rbd);
      if (size < e.offset + e.length)
        return InvalidArgument(it->second->path + " has " + std::to_string(size) +
                               " bytes, the extent needs " + std::to_string(e.offset + e.length));
      files.push_back(it->second);
      continue;
    }
    if (e.null) {
      auto f = std::make_shared<File>();
      f->path = "(null extent)";
      f->in_memory = f->null = true;
      files.push_back(std::move(f));
      continue;
    }
    auto it = open.find(e.path);
    if (it == open.end()) {
      auto f = std::make_shared<File>();
      f->path = e.path;
      f->key = e.path;
      f->fd = ::open(e.path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
      if (f->fd < 0) return ErrnoError("open " + e.path, errno);
      struct statfs fs;
      constexpr long kTmpfsMagic = 0x01021994, kRamfsMagic = 0x858458f6;
      if (::fstatfs(f->fd, &fs) == 0)
        f->in_memory = fs.f_type == kTmpfsMagic || fs.f_type == kRamfsMagic;
      struct stat st;
      if (BlockCache::Global().enabled() && ::fstat(f->fd, &st) == 0)
        f->cache_id = BlockCache::Global().Acquire("file\n" + std::to_string(st.st_dev) + ":" +
                                                   std::to_string(st.st_ino));
      it = open.emplace(e.path, std::move(f)).first;
    }
    VSL_ASSIGN_OR_RETURN(uint64_t size, FileSize(it->second->fd, e.path));
    if (size < e.offset + e.length)
      return InvalidArgument(e.path + " has " + std::to_string(size) + " bytes, the extent needs " +
                             std::to_string(e.offset + e.length));
    files.push_back(it->second);
  }
  return files;
}
}  // namespace

Result<std::shared_ptr<MetaVolume>> MetaVolume::Open(std::vector<Extent> extents,
                                                     VolumeOptions options) {
  if (extents.empty()) return InvalidArgument("a volume needs at least one extent");
  auto state = std::make_shared<State>();
  std::map<std::string, std::shared_ptr<File>> open;
  VSL_ASSIGN_OR_RETURN(state->files, OpenFiles(extents, options.read_only, open));
  VSL_ASSIGN_OR_RETURN(state->map, ExtentMap::Make(std::move(extents), options.block_size));
  std::shared_ptr<MetaVolume> v(new MetaVolume(std::move(options)));
  v->size_.store(state->map.size());
  v->has_rbd_.store(std::any_of(state->files.begin(), state->files.end(),
                                [](const auto& f) { return f->rbd != nullptr; }));
  v->state_ = std::move(state);
  return v;
}

std::shared_ptr<const MetaVolume::State> MetaVolume::state() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_;
}

std::vector<Extent> MetaVolume::extents() const { return state()->map.extents(); }

bool MetaVolume::UseCache() const {
  return cache_reads_.load(std::memory_order_relaxed) && BlockCache::Global().enabled();
}

MetaVolume::IoDone MetaVolume::AfterWriteDone(std::shared_ptr<const State> s, uint64_t offset,
                                              uint64_t length, IoDone done) {
  if (!BlockCache::Global().enabled()) return done;
  CacheWrite(s->map, s->files, offset, length, true);
  return [s = std::move(s), offset, length, done = std::move(done)](Status st) {
    CacheWrite(s->map, s->files, offset, length, false);
    done(std::move(st));
  };
}

Status MetaVolume::Read(uint64_t offset, std::span<uint8_t> out) const {
  auto s = state();
  PieceList pl;
  VSL_RETURN_IF_ERROR(MapRange(s->map, offset, out.size(), pl));
  const auto& pieces = pl.all;
  const bool cached = UseCache();
  bool hit = true;
  for (const Piece& p : pieces) {
    const File& f = *s->files[p.extent];
    uint8_t* dst = out.data() + (p.volume_offset - offset);
    const CacheRange r = RangeOf(cached, f, s->map.extents()[p.extent], p, dst);
    if (r.cached && CacheRead(f, r.off, r.dst, r.len)) {
      CopyOut(r, dst, p.length);
      continue;
    }
    hit = false;
    std::vector<Ticket> t;
    if (r.cached) t = CacheTickets(f, r.off, r.len);
    VSL_RETURN_IF_ERROR(ReadFull(f, r.off, r.dst, r.len));
    if (!f.null) backend_read_bytes_.fetch_add(r.len, std::memory_order_relaxed);
    if (r.cached) CacheFill(r.off, r.dst, r.len, t);
    CopyOut(r, dst, p.length);
  }
  if (cached) (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Result<bool> MetaVolume::TryReadNoWait(uint64_t offset, std::span<uint8_t> out) const {
  auto s = state();
  PieceList pl;
  VSL_RETURN_IF_ERROR(MapRange(s->map, offset, out.size(), pl));
  const auto& pieces = pl.all;
  const bool cached = UseCache();
  bool hit = true;
  for (const Piece& p : pieces) {
    const File& f = *s->files[p.extent];
    uint8_t* dst = out.data() + (p.volume_offset - offset);
    const CacheRange r = RangeOf(cached, f, s->map.extents()[p.extent], p, dst);
    if (r.cached && CacheRead(f, r.off, r.dst, r.len)) {
      CopyOut(r, dst, p.length);
      continue;
    }
    if (f.rbd) return false;  // librbd's calls block: the I/O threads' job (Read counts this read)
    // A widened miss fills the cache from the I/O threads (Read), like a miss on rbd.
    if (r.wide) return false;
    const bool c = r.cached;
    hit = false;
    std::vector<Ticket> t;
    if (c) t = CacheTickets(f, p.file_offset, p.length);
    if (f.in_memory) {
      VSL_RETURN_IF_ERROR(ReadFull(f, p.file_offset, dst, p.length));
      if (!f.null) backend_read_bytes_.fetch_add(p.length, std::memory_order_relaxed);
      if (c) CacheFill(p.file_offset, dst, p.length, t);
      continue;
    }
    uint64_t off = p.file_offset, n = p.length;
    while (n > 0) {
      iovec iov{dst, size_t(std::min<uint64_t>(n, 1u << 30))};
      ssize_t r = ::preadv2(f.fd, &iov, 1, off_t(off), RWF_NOWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EOPNOTSUPP || errno == ENOSYS) return false;
        return ErrnoError("read " + Where(f.path, off), errno);
      }
      if (r == 0) {
        std::memset(dst, 0, n);
        break;
      }
      dst += r;
      off += uint64_t(r);
      n -= uint64_t(r);
    }
    backend_read_bytes_.fetch_add(p.length, std::memory_order_relaxed);
    if (c) CacheFill(p.file_offset, out.data() + (p.volume_offset - offset), p.length, t);
  }
  if (cached) (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return true;
}

namespace {
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An inline buffered write slower than this (block allocation, reading
// metadata, dirty-page throttling) sends the file's writes back to the I/O
// threads for a while, so a stalling file system stalls no event loop for
// long. The clock can't tell a stall from the thread being preempted on a
// busy machine (or by the I/O threads its own back-off woke on the same
// CPU, which kept it backing off), so it takes two slow writes to the file
// in a row: preemption rarely lands in two short writes running, a stalling
// file system stalls the next write too. The first back-off is short; one
// that follows soon after the last doubles it, up to kMaxInlineBackoffNs.
constexpr int64_t kSlowInlineWriteNs = 2'000'000;
constexpr int64_t kMinInlineBackoffNs = 10'000'000;
constexpr int64_t kMaxInlineBackoffNs = 1'000'000'000;

void BackOff(const File& f, int64_t now) {
  int64_t last_until = f.inline_off_until.load(std::memory_order_relaxed);
  int64_t backoff = now - last_until < kMaxInlineBackoffNs
                        ? std::min(2 * f.inline_backoff.load(std::memory_order_relaxed), kMaxInlineBackoffNs)
                        : kMinInlineBackoffNs;
  backoff = std::max(backoff, kMinInlineBackoffNs);
  f.inline_backoff.store(backoff, std::memory_order_relaxed);
  f.inline_off_until.store(now + backoff, std::memory_order_relaxed);
}

enum class NoWait { kDone, kWouldBlock, kUnsupported };

// The iovecs of `bufs` (one contiguous run of the volume starting at
// `bufs_offset`) that cover [from, from+n): the caller's scratch, refilled.
void SliceIovecs(std::span<const std::span<const uint8_t>> bufs, uint64_t bufs_offset,
                 uint64_t from, uint64_t n, std::vector<iovec>& out) {
  out.clear();
  uint64_t at = bufs_offset;
  for (std::span<const uint8_t> b : bufs) {
    if (n == 0) break;
    const uint64_t end = at + b.size();
    if (end > from) {
      const uint64_t skip = from > at ? from - at : 0;
      const uint64_t take = std::min<uint64_t>(b.size() - skip, n);
      out.push_back({const_cast<uint8_t*>(b.data() + skip), size_t(take)});
      from += take;
      n -= take;
    }
    at = end;
  }
}

// Drops the first r bytes of iov[i..]: the part a short write wrote.
void Advance(std::vector<iovec>& iov, size_t& i, size_t r) {
  while (r > 0 && i < iov.size()) {
    if (r >= iov[i].iov_len) {
      r -= iov[i].iov_len;
      ++i;
    } else {
      iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + r;
      iov[i].iov_len -= r;
      r = 0;
    }
  }
}

// One piece with pwritev2(RWF_NOWAIT): kWouldBlock when the kernel would wait
// (bytes written so far stay written; the caller's fallback rewrites them
// with the same data).
Result<NoWait> WriteNoWait(const File& f, uint64_t off, std::vector<iovec>& iov) {
  size_t i = 0;
  while (i < iov.size()) {
    ssize_t r = ::pwritev2(f.fd, &iov[i], int(std::min<size_t>(iov.size() - i, IOV_MAX)),
                           off_t(off), RWF_NOWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return NoWait::kWouldBlock;
      if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return NoWait::kUnsupported;
      return ErrnoError("write " + Where(f.path, off), errno);
    }
    if (r == 0) return NoWait::kWouldBlock;
    off += uint64_t(r);
    Advance(iov, i, size_t(r));
  }
  return NoWait::kDone;
}

// One piece as a plain buffered pwritev, again after a short write.
Status WriteFullV(const File& f, uint64_t off, std::vector<iovec>& iov) {
  size_t i = 0;
  while (i < iov.size()) {
    ssize_t r =
        ::pwritev(f.fd, &iov[i], int(std::min<size_t>(iov.size() - i, IOV_MAX)), off_t(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + Where(f.path, off), errno);
    }
    if (r == 0) return IoError("write " + Where(f.path, off) + ": no progress");
    off += uint64_t(r);
    Advance(iov, i, size_t(r));
  }
  return Status::Ok();
}
}  // namespace

Result<bool> MetaVolume::TryWriteNoWait(uint64_t offset, std::span<const uint8_t> data, bool fua) {
  return TryWriteNoWait(offset, std::span<const std::span<const uint8_t>>(&data, 1), fua);
}

Result<bool> MetaVolume::TryWriteNoWait(uint64_t offset,
                                        std::span<const std::span<const uint8_t>> bufs, bool fua) {
  if (read_only()) return FailedPrecondition("volume " + id() + " is read-only");
  // Preserving chunks for a point-in-time view reads and writes a disk.
  if (has_cow_.load(std::memory_order_acquire)) return false;
  uint64_t length = 0;
  for (std::span<const uint8_t> b : bufs) length += b.size();
  auto s = state();
  PieceList pl;
  VSL_RETURN_IF_ERROR(MapRange(s->map, offset, length, pl));
  const auto& pieces = pl.all;
  MirrorTicket mirror = MirrorFor(offset, length);
  if (mirror && mirror.dst().has_rbd()) return false;  // the mirror's librbd calls block
  // Files only (no clone maps to mark): the cache's part is all after.
  AfterWrite after{s->map, s->files, offset, length};
  const int64_t start = NowNs();
  for (const Piece& p : pieces) {
    const File& f = *s->files[p.extent];
    if (f.rbd) return false;  // librbd's calls block: the I/O threads' job
    if (f.in_memory) continue;
    // A durable write waits for the disk: that is the I/O threads' job.
    if (fua) return false;
    if (f.inline_off_until.load(std::memory_order_relaxed) > start) return false;
  }
  // One loop thread's scratch: a piece's iovecs (as many as the buffers it spans).
  thread_local std::vector<iovec> iov;
  for (const Piece& p : pieces) {
    const File& f = *s->files[p.extent];
    SliceIovecs(bufs, offset, p.volume_offset, p.length, iov);
    if (!f.in_memory && f.nowait_writes.load(std::memory_order_relaxed)) {
      VSL_ASSIGN_OR_RETURN(NoWait r, WriteNoWait(f, p.file_offset, iov));
      if (r == NoWait::kDone) continue;
      if (r == NoWait::kWouldBlock) return false;
      f.nowait_writes.store(false, std::memory_order_relaxed);
      SliceIovecs(bufs, offset, p.volume_offset, p.length, iov);  // from the piece's start again
    }
    // tmpfs never waits for a disk; a page-cache file whose file system
    // can't say whether it would (RWF_NOWAIT unsupported, as on ext4) is
    // written here too: a buffered write of pages already cached costs a
    // copy, and the clock below catches a file system that stalls.
    if (f.null) continue;
    VSL_RETURN_IF_ERROR(WriteFullV(f, p.file_offset, iov));
  }
  const int64_t end = NowNs();
  const bool slow = end - start > kSlowInlineWriteNs;
  for (const Piece& p : pieces) {
    const File& f = *s->files[p.extent];
    if (f.in_memory) continue;
    if (slow) {
      if (f.last_inline_slow.exchange(true, std::memory_order_relaxed)) BackOff(f, end);
    } else if (f.last_inline_slow.load(std::memory_order_relaxed)) {
      f.last_inline_slow.store(false, std::memory_order_relaxed);
    }
  }
  changes_.Mark(offset, length);
  // Only memory-backed files get here with fua: fdatasync on tmpfs returns at
  // once; kept so the contract is Write's.
  if (fua)
    for (const Piece& p : pieces) VSL_RETURN_IF_ERROR(Sync(*s->files[p.extent]));
  if (mirror) {
    auto m = mirror.dst().TryWriteNoWait(offset, bufs, false);
    if (!m.ok()) {
      mirror.Check(m.status());
    } else if (!*m) {
      return false;  // the caller writes it all again where it may wait
    }
  }
  return true;
}

Status MetaVolume::Write(uint64_t offset, std::span<const uint8_t> data, bool fua) {
  if (read_only()) return FailedPrecondition("volume " + id() + " is read-only");
  auto s = state();
  PieceList pl;
  VSL_RETURN_IF_ERROR(MapRange(s->map, offset, data.size(), pl));
  MirrorTicket mirror = MirrorFor(offset, data.size());
  BeforeWrite(offset, data.size());
  CacheWrite(s->map, s->files, offset, data.size(), true);
  AfterWrite after{s->map, s->files, offset, data.size()};
  const auto& pieces = pl.all;
  for (const Piece& p : pieces) {
    VSL_RETURN_IF_ERROR(
        WriteFull(*s->files[p.extent], p.file_offset, data.data() + (p.volume_offset - offset), p.length));
  }
  if (fua) {
    std::vector<const File*> done;  // one sync per file, however many pieces
    for (const Piece& p : pieces) {
      const File* f = s->files[p.extent].get();
      if (std::find(done.begin(), done.end(), f) != done.end()) continue;
      VSL_RETURN_IF_ERROR(Sync(*f));
      done.push_back(f);
    }
  }
  if (mirror) mirror.Check(mirror.dst().Write(offset, data, false));
  return Status::Ok();
}

Status MetaVolume::Flush() {
  auto s = state();
  std::vector<const File*> done;
  for (const auto& f : s->files) {
    if (std::find(done.begin(), done.end(), f.get()) != done.end()) continue;
    VSL_RETURN_IF_ERROR(Sync(*f));
    done.push_back(f.get());
  }
  return Status::Ok();
}

namespace {

// One asynchronous request over several pieces: `done` runs once, after the
// last piece finished, with the first error; `then` (if set, and all went
// well) first starts a second round (the flushes after a FUA write).
struct Fanout {
  Fanout(std::shared_ptr<const void> k, MetaVolume::IoDone d) : keep(std::move(k)), done(std::move(d)) {}
  std::shared_ptr<const void> keep;  // the State: the backends stay open
  MetaVolume::IoDone done;
  std::function<void(Fanout*)> then;
  util::Countdown pieces;

  // A piece starts; it ends with one Finish.
  void Add() { pieces.Add(); }
  void Finish(Status s) {
    Status out;
    if (!pieces.Finish(std::move(s), &out)) return;
    if (then && out.ok()) {
      auto next = std::move(then);
      then = nullptr;
      pieces.Rearm();
      next(this);
      return Finish(Status::Ok());
    }
    auto d = std::move(done);
    delete this;
    d(std::move(out));
  }
  MetaVolume::IoDone PieceDone() {
    return [this](Status s) { Finish(std::move(s)); };
  }
};

// Starts a sync of every file in `files` (once each) as pieces of `f`.
void SyncAsync(Fanout* f, std::vector<std::shared_ptr<File>> files,
               const MetaVolume::Offload& offload) {
  std::vector<std::shared_ptr<File>> blocking;
  std::vector<const File*> done;
  for (const auto& file : files) {
    if (file->null || std::find(done.begin(), done.end(), file.get()) != done.end()) continue;
    done.push_back(file.get());
    if (file->rbd) {
      f->Add();
      RbdAioFlush(*file->rbd, f->PieceDone());
    } else if (file->in_memory) {
      f->Add();
      f->Finish(Sync(*file));
    } else {
      blocking.push_back(file);
    }
  }
  if (blocking.empty()) return;
  f->Add();
  offload([f, blocking = std::move(blocking)] {
    Status st;
    for (const auto& file : blocking) {
      st = Sync(*file);
      if (!st.ok()) break;
    }
    f->Finish(std::move(st));
  });
}

}  // namespace

bool MetaVolume::ReadHeldAsync(uint64_t offset, uint64_t length, HeldReadDone& done) const {
  auto s = state();
  PieceList pl;
  if (!MapRange(s->map, offset, length, pl).ok() || pl.all.size() != 1) return false;
  const Piece& p = pl.all[0];
  const File& file = *s->files[p.extent];
  if (!file.rbd || file.null || (UseCache() && file.cache_id != 0)) return false;
  backend_read_bytes_.fetch_add(p.length, std::memory_order_relaxed);
  // The state holds the image open until librbd has answered.
  RbdAioReadHeld(*file.rbd, p.file_offset, p.length,
                 [s, done = std::move(done)](Status st, std::shared_ptr<const util::HeldBytes> bytes) {
                   done(std::move(st), std::move(bytes));
                 });
  return true;
}

void MetaVolume::ReadAsync(uint64_t offset, std::span<uint8_t> out, const Offload& offload,
                           IoDone done) const {
  auto s = state();
  PieceList pl;
  Status st = MapRange(s->map, offset, out.size(), pl);
  if (!st.ok()) return done(std::move(st));
  const bool cached = UseCache();
  bool hit = true;
  auto* f = new Fanout(s, std::move(done));
  // Pieces for the offload thread, with where they read and their tickets
  // (empty: not cached).
  struct Blocking {
    Piece p;
    CacheRange r;
    std::vector<Ticket> t;
  };
  std::vector<Blocking> blocking;
  for (const Piece& p : pl.all) {
    const File& file = *s->files[p.extent];
    uint8_t* dst = out.data() + (p.volume_offset - offset);
    const CacheRange r = RangeOf(cached, file, s->map.extents()[p.extent], p, dst);
    const bool c = r.cached;
    f->Add();
    if (c && CacheRead(file, r.off, r.dst, r.len)) {
      CopyOut(r, dst, p.length);
      f->Finish(Status::Ok());
      continue;
    }
    hit = false;
    std::vector<Ticket> t;
    if (c) t = CacheTickets(file, r.off, r.len);
    if (!file.null && !file.rbd) backend_read_bytes_.fetch_add(r.len, std::memory_order_relaxed);
    if (file.rbd) {
      MetaVolume::IoDone piece = f->PieceDone();
      if (r.wide) {
        piece = [piece = std::move(piece), r, dst, n = p.length](Status st) {
          if (st.ok()) CopyOut(r, dst, n);
          piece(std::move(st));
        };
      }
      if (c && OneId(t)) {
        const FlightKey k{t[0].id, r.off, r.len};
        std::shared_ptr<Flight> fl;
        {
          std::lock_guard l(flights_mu);
          auto it = Flights().find(k);
          if (it != Flights().end() && SameTickets(it->second->tickets, t)) {
            it->second->waiters.push_back([s, file = &file, off = r.off, dst = r.dst, n = r.len,
                                           piece = std::move(piece)](const uint8_t* src, const Status& st) {
              if (st.ok() && src == nullptr) return RbdAioRead(*file->rbd, off, dst, n, std::move(piece));
              if (st.ok()) std::memcpy(dst, src, n);
              piece(st);
            });
            continue;  // no backend read of its own
          }
          if (it == Flights().end()) {
            fl = std::make_shared<Flight>();
            fl->tickets = t;
            Flights().emplace(k, fl);
          }
        }
        piece = [piece = std::move(piece), t = std::move(t), k, fl, dst = r.dst](Status st) {
          if (st.ok()) CacheFill(k.off, dst, k.len, t);
          std::vector<std::function<void(const uint8_t*, const Status&)>> waiters;
          if (fl) {
            std::lock_guard l(flights_mu);
            auto it = Flights().find(k);
            if (it != Flights().end() && it->second == fl) Flights().erase(it);
            waiters.swap(fl->waiters);
          }
          const uint8_t* bytes = st.ok() && TicketsCurrent(k.off, t) ? dst : nullptr;
          for (auto& w : waiters) w(bytes, st);
          piece(std::move(st));
        };
      } else if (c) {
        piece = [piece = std::move(piece), t = std::move(t), off = r.off, dst = r.dst,
                 n = r.len](Status st) {
          if (st.ok()) CacheFill(off, dst, n, t);
          piece(std::move(st));
        };
      }
      backend_read_bytes_.fetch_add(r.len, std::memory_order_relaxed);
      RbdAioRead(*file.rbd, r.off, r.dst, r.len, std::move(piece));
    } else if (file.in_memory) {
      Status st = ReadFull(file, r.off, r.dst, r.len);
      if (st.ok() && c) CacheFill(r.off, r.dst, r.len, t);
      if (st.ok()) CopyOut(r, dst, p.length);
      f->Finish(std::move(st));
    } else {
      blocking.push_back({p, r, std::move(t)});
      f->Finish(Status::Ok());
    }
  }
  if (cached) (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  if (!blocking.empty()) {
    f->Add();
    offload([f, s, blocking = std::move(blocking), base = out.data(), offset] {
      Status st;
      for (const auto& [p, r, t] : blocking) {
        uint8_t* dst = base + (p.volume_offset - offset);
        st = ReadFull(*s->files[p.extent], r.off, r.dst, r.len);
        if (!st.ok()) break;
        if (!t.empty()) CacheFill(r.off, r.dst, r.len, t);
        CopyOut(r, dst, p.length);
      }
      f->Finish(std::move(st));
    });
  }
  f->Finish(Status::Ok());
}

void MetaVolume::WriteAsync(uint64_t offset, std::span<const uint8_t> data, bool fua,
                            const Offload& offload, IoDone done) {
  if (read_only()) return done(FailedPrecondition("volume " + id() + " is read-only"));
  auto s = state();
  PieceList pl;
  Status st = MapRange(s->map, offset, data.size(), pl);
  if (!st.ok()) return done(std::move(st));
  if (MirrorTicket mirror = MirrorFor(offset, data.size())) {
    auto* j = new MirrorJoin<MirrorTicket>(std::move(mirror), std::move(done));
    done = j->Primary();
    j->ticket.dst().WriteAsync(offset, data, false, offload, j->Mirror());
  }
  BeforeWrite(offset, data.size());
  auto* f = new Fanout(s, AfterWriteDone(s, offset, data.size(), std::move(done)));
  if (fua) {
    std::vector<std::shared_ptr<File>> touched;
    for (const Piece& p : pl.all) touched.push_back(s->files[p.extent]);
    f->then = [touched = std::move(touched), offload](Fanout* f) mutable {
      SyncAsync(f, std::move(touched), offload);
    };
  }
  std::vector<Piece> blocking;
  for (const Piece& p : pl.all) {
    const File& file = *s->files[p.extent];
    const uint8_t* src = data.data() + (p.volume_offset - offset);
    f->Add();
    if (file.rbd) {
      RbdAioWrite(*file.rbd, p.file_offset, src, p.length, f->PieceDone());
    } else if (file.in_memory) {
      f->Finish(WriteFull(file, p.file_offset, src, p.length));
    } else {
      blocking.push_back(p);
      f->Finish(Status::Ok());
    }
  }
  if (!blocking.empty()) {
    f->Add();
    offload([f, s, blocking = std::move(blocking), base = data.data(), offset] {
      Status st;
      for (const Piece& p : blocking) {
        st = WriteFull(*s->files[p.extent], p.file_offset, base + (p.volume_offset - offset), p.length);
        if (!st.ok()) break;
      }
      f->Finish(std::move(st));
    });
  }
  f->Finish(Status::Ok());
}

void MetaVolume::FlushAsync(const Offload& offload, IoDone done) {
  auto s = state();
  auto* f = new Fanout(s, std::move(done));
  SyncAsync(f, s->files, offload);
  f->Finish(Status::Ok());
}

namespace {
Status Deallocate(const File& f, uint64_t off, uint64_t n);
}  // namespace

void MetaVolume::ZeroAsync(uint64_t offset, uint64_t length, bool deallocate,
                           const Offload& offload, IoDone done) {
  if (read_only()) return done(FailedPrecondition("volume " + id() + " is read-only"));
  auto s = state();
  PieceList pl;
  Status st = MapRange(s->map, offset, length, pl);
  if (!st.ok()) return done(std::move(st));
  if (MirrorTicket mirror = MirrorFor(offset, length)) {
    auto* j = new MirrorJoin<MirrorTicket>(std::move(mirror), std::move(done));
    done = j->Primary();
    j->ticket.dst().ZeroAsync(offset, length, deallocate, offload, j->Mirror());
  }
  BeforeWrite(offset, length);
  auto* f = new Fanout(s, AfterWriteDone(s, offset, length, std::move(done)));
  std::vector<Piece> blocking;
  for (const Piece& p : pl.all) {
    const File& file = *s->files[p.extent];
    if (file.null) continue;
    if (file.rbd) {
      f->Add();
      if (deallocate) {
        RbdAioDiscard(*file.rbd, p.file_offset, p.length, f->PieceDone());
      } else {
        RbdAioWriteZeroes(*file.rbd, p.file_offset, p.length, f->PieceDone());
      }
    } else {
      blocking.push_back(p);
    }
  }
  if (!blocking.empty()) {
    f->Add();
    offload([f, s, blocking = std::move(blocking), deallocate] {
      Status st;
      for (const Piece& p : blocking) {
        const File& file = *s->files[p.extent];
        st = deallocate ? Deallocate(file, p.file_offset, p.length)
                        : WriteZeros(file, p.file_offset, p.length);
        if (!st.ok()) break;
      }
      f->Finish(std::move(st));
    });
  }
  f->Finish(Status::Ok());
}

namespace {

// Calls fn(offset, length, holds_data) for the runs of [off, off+n) of `f`
// in order (SEEK_DATA/SEEK_HOLE; a file system without them is all data),
// until fn returns false.
template <class Fn>
void ForEachRun(const File& f, uint64_t off, uint64_t n, Fn fn) {
  if (f.rbd) {
    // An image whose allocation can't be listed is all data (the safe answer).
    bool more = true;
    uint64_t done = off;
    Status st = RbdRuns(*f.rbd, off, n, [&](uint64_t at, uint64_t len, bool data) {
      done = at + len;
      return more = fn(at, len, data);
    });
    if (!st.ok() && more && done < off + n) fn(done, off + n - done, true);
    return;
  }
  const uint64_t stop = off + n;
  for (uint64_t cur = off; cur < stop;) {
    off_t d = ::lseek(f.fd, off_t(cur), SEEK_DATA);
    // ENXIO: nothing but hole up to the end of the file.
    uint64_t data = d >= 0 ? std::min<uint64_t>(uint64_t(d), stop) : (errno == ENXIO ? stop : cur);
    if (data > cur) {
      if (!fn(cur, data - cur, false)) return;
      cur = data;
      continue;
    }
    off_t h = ::lseek(f.fd, off_t(cur), SEEK_HOLE);
    uint64_t hole = h < 0 ? stop : std::min<uint64_t>(uint64_t(h), stop);
    if (hole <= cur) hole = stop;
    if (!fn(cur, hole - cur, true)) return;
    cur = hole;
  }
}

Status Deallocate(const File& f, uint64_t off, uint64_t n) {
  if (f.null) return Status::Ok();
  if (f.rbd) return RbdDiscard(*f.rbd, off, n);
  int r;
  do {
    r = ::fallocate(f.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(off), off_t(n));
  } while (r != 0 && errno == EINTR);
  if (r == 0) return Status::Ok();
  if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL && errno != ENODEV)
    return ErrnoError("punch hole in " + Where(f.path, off), errno);
  return WriteZeros(f, off, n);
}

// Copies one data run in the kernel; where copy_file_range can't join these
// two files, through `buf` (allocated on first need).
Status CopyData(const File& in, uint64_t in_off, const File& out, uint64_t out_off, uint64_t n,
                std::vector<uint8_t>& buf) {
  // copy_file_range joins files only: RBD runs go through the buffer.
  while (n > 0 && !in.rbd && !out.rbd) {
    loff_t i = loff_t(in_off), o = loff_t(out_off);
    ssize_t r = ::copy_file_range(in.fd, &i, out.fd, &o, size_t(std::min<uint64_t>(n, 1u << 30)), 0);
    if (r > 0) {
      in_off += uint64_t(r);
      out_off += uint64_t(r);
      n -= uint64_t(r);
      continue;
    }
    if (r == 0) return Deallocate(out, out_off, n);  // the source ends early: the rest reads zeros
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
      return ErrnoError("copy " + Where(in.path, in_off) + " to " + Where(out.path, out_off), errno);
    break;
  }
  if (n > 0 && buf.empty()) buf.resize(1 << 20);
  while (n > 0) {
    const uint64_t k = std::min<uint64_t>(n, buf.size());
    VSL_RETURN_IF_ERROR(ReadFull(in, in_off, buf.data(), k));
    VSL_RETURN_IF_ERROR(WriteFull(out, out_off, buf.data(), k));
    in_off += k;
    out_off += k;
    n -= k;
  }
  return Status::Ok();
}

bool SameFile(const File& a, const File& b) {
  if (a.rbd || b.rbd) return a.key == b.key;
  if (a.null || b.null) return false;
  struct stat sa, sb;
  if (::fstat(a.fd, &sa) != 0 || ::fstat(b.fd, &sb) != 0) return true;  // can't tell: assume so
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

Status MetaVolume::Unmap(uint64_t offset, uint64_t length) {
  if (read_only()) return FailedPrecondition("volume " + id() + " is read-only");
  auto s = state();
  VSL_ASSIGN_OR_RETURN(auto pieces, s->map.Map(offset, length));
  MirrorTicket mirror = MirrorFor(offset, length);
  BeforeWrite(offset, length);
  CacheWrite(s->map, s->files, offset, length, true);
  AfterWrite after{s->map, s->files, offset, length};
  for (const Piece& p : pieces) VSL_RETURN_IF_ERROR(Deallocate(*s->files[p.extent], p.file_offset, p.length));
  if (mirror) mirror.Check(mirror.dst().Unmap(offset, length));
  return Status::Ok();
}

Result<std::vector<LbaStatus>> MetaVolume::GetLbaStatus(uint64_t offset, size_t max_runs) const {
  auto s = state();
  const uint64_t bs = block_size();
  const uint64_t end = s->map.size();
  if (offset >= end)
    return OutOfRange("offset " + std::to_string(offset) + " is past the end of the volume (" +
                      std::to_string(end) + " bytes)");
  if (max_runs == 0) max_runs = 1;
  VSL_ASSIGN_OR_RETURN(auto pieces, s->map.Map(offset, end - offset));
  std::vector<LbaStatus> runs;
  // A block counts as mapped when any byte of it is: holes shrink to whole blocks.
  auto push = [&](uint64_t a, uint64_t len, bool mapped) {
    if (len == 0) return;
    if (!runs.empty() && runs.back().mapped == mapped) {
      runs.back().length += len;
    } else {
      runs.push_back({a, len, mapped});
    }
  };
  auto add = [&](uint64_t a, uint64_t b, bool mapped) {
    if (!mapped) {
      uint64_t a2 = (a + bs - 1) / bs * bs, b2 = b / bs * bs;
      if (a2 >= b2) {
        mapped = true;
      } else {
        push(a, a2 - a, true);
        a = a2;
        if (b2 < b) {
          push(a, b2 - a, false);
          a = b2;
          mapped = true;
        }
      }
    }
    push(a, b - a, mapped);
  };
  for (const Piece& p : pieces) {
    const File& f = *s->files[p.extent];
    auto vol = [&](uint64_t fo) { return p.volume_offset + (fo - p.file_offset); };
    ForEachRun(f, p.file_offset, p.length, [&](uint64_t at, uint64_t n, bool data) {
      add(vol(at), vol(at + n), data);
      return runs.size() <= max_runs;
    });
    // Enough runs: the last one may continue into later pieces, which is fine
    // for GET LBA STATUS (each descriptor is accurate for what it covers).
    if (runs.size() > max_runs) break;
  }
  if (runs.size() > max_runs) runs.resize(max_runs);
  return runs;
}

Result<bool> MetaVolume::CopyFrom(const MetaVolume& src, uint64_t src_offset, uint64_t dst_offset,
                                  uint64_t length) {
  if (read_only()) return FailedPrecondition("volume " + id() + " is read-only");
  if (length == 0) return true;
  auto ss = src.state();
  auto ds = state();
  VSL_ASSIGN_OR_RETURN(auto from, ss->map.Map(src_offset, length));
  VSL_ASSIGN_OR_RETURN(auto to, ds->map.Map(dst_offset, length));
  // Pairs of (source piece, destination piece) parts that cover the range.
  struct Part {
    const File* in;
    uint64_t in_off;
    const File* out;
    uint64_t out_off, n;
  };
  std::vector<Part> parts;
  for (size_t a = 0, b = 0, done = 0; done < length;) {
    const Piece& f = from[a];
    const Piece& t = to[b];
    const uint64_t fa = src_offset + done - f.volume_offset, tb = dst_offset + done - t.volume_offset;
    const uint64_t n = std::min(f.length - fa, t.length - tb);
    parts.push_back({ss->files[f.extent].get(), f.file_offset + fa, ds->files[t.extent].get(),
                     t.file_offset + tb, n});
    done += n;
    if (fa + n == f.length) ++a;
    if (tb + n == t.length) ++b;
  }
  for (const Part& p : parts) {
    if (p.in_off < p.out_off + p.n && p.out_off < p.in_off + p.n && SameFile(*p.in, *p.out))
      return false;  // overlapping ranges of one file: the caller orders the copy
  }
  MirrorTicket mirror = MirrorFor(dst_offset, length);
  BeforeWrite(dst_offset, length);
  CacheWrite(ds->map, ds->files, dst_offset, length, true);
  AfterWrite after{ds->map, ds->files, dst_offset, length};
  std::vector<uint8_t> buf;
  for (const Part& p : parts) {
    Status st;
    ForEachRun(*p.in, p.in_off, p.n, [&](uint64_t at, uint64_t n, bool data) {
      const uint64_t out = p.out_off + (at - p.in_off);
      st = data ? CopyData(*p.in, at, *p.out, out, n, buf) : Deallocate(*p.out, out, n);
      return st.ok();
    });
    VSL_RETURN_IF_ERROR(st);
  }
  if (mirror) {  // what landed here, read back from here: the mirror's files are others
    auto m = mirror.dst().CopyFrom(*this, dst_offset, dst_offset, length);
    mirror.Check(m.ok() && !*m ? Internal("the mirror shares a file with its volume") : m.status());
  }
  return true;
}

Status MetaVolume::Append(std::vector<Extent> more) {
  if (more.empty()) return Status::Ok();
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, std::shared_ptr<File>> open;
  for (const auto& f : state_->files)
    if (!f->null) open.emplace(f->key, f);
  auto next = std::make_shared<State>();
  VSL_ASSIGN_OR_RETURN(auto added, OpenFiles(more, options_.read_only, open));
  std::vector<Extent> all = state_->map.extents();
  all.insert(all.end(), more.begin(), more.end());
  VSL_ASSIGN_OR_RETURN(next->map, ExtentMap::Make(std::move(all), options_.block_size));
  next->files = state_->files;
  next->files.insert(next->files.end(), added.begin(), added.end());
  size_.store(next->map.size(), std::memory_order_release);
  if (std::any_of(added.begin(), added.end(), [](const auto& f) { return f->rbd != nullptr; }))
    has_rbd_.store(true, std::memory_order_release);
  state_ = std::move(next);
  changes_.Grow(size_.load(std::memory_order_relaxed));
  return Status::Ok();
}

Status MetaVolume::Replace(std::vector<Extent> extents, const MetaVolume* opened) {
  VSL_ASSIGN_OR_RETURN(auto next, PrepareReplace(std::move(extents), opened));
  SwitchTo(std::move(next));
  return Status::Ok();
}

Result<std::shared_ptr<const MetaVolume::State>> MetaVolume::PrepareReplace(std::vector<Extent> extents,
                                                                          const MetaVolume* opened) const {
  std::map<std::string, std::shared_ptr<File>> open;
  if (opened && opened != this) {
    for (const auto& f : opened->state()->files)
      if (!f->null) open.emplace(f->key, f);
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& f : state_->files)
    if (!f->null) open.emplace(f->key, f);
  auto next = std::make_shared<State>();
  VSL_ASSIGN_OR_RETURN(next->map, ExtentMap::Make(extents, options_.block_size));
  if (next->map.size() != state_->map.size()) {
    return InvalidArgument("volume " + options_.id + ": the new extents hold " + std::to_string(next->map.size()) +
                           " bytes, the volume " + std::to_string(state_->map.size()));
  }
  VSL_ASSIGN_OR_RETURN(next->files, OpenFiles(extents, options_.read_only, open));
  return std::shared_ptr<const State>(std::move(next));
}

void MetaVolume::SwitchTo(std::shared_ptr<const State> next) {
  std::lock_guard<std::mutex> l(mu_);
  has_rbd_.store(std::any_of(next->files.begin(), next->files.end(), [](const auto& f) { return f->rbd != nullptr; }),
                 std::memory_order_release);
  state_ = std::move(next);
}

// ---- Mirror (live migration) ------------------------------------------------

Status MetaVolume::StartMirror(std::shared_ptr<MetaVolume> dst) {
  if (read_only()) return FailedPrecondition("volume " + id() + " is read-only");
  if (dst->size() != size()) {
    return FailedPrecondition("volume " + id() + " has " + std::to_string(size()) + " bytes, its mirror " +
                              std::to_string(dst->size()));
  }
  std::lock_guard<std::mutex> l(mu_);
  if (mirror_) return FailedPrecondition("volume " + id() + " has a mirror already");
  mirror_ = std::make_shared<Mirror>(std::move(dst));
  has_mirror_.store(true, std::memory_order_release);
  return Status::Ok();
}

Status MetaVolume::CopyToMirror(uint64_t offset, uint64_t length) {
  MirrorTicket t = MirrorFor(offset, length);
  if (!t) return FailedPrecondition("volume " + id() + " has no mirror");
  VSL_ASSIGN_OR_RETURN(bool copied, t.dst().CopyFrom(*this, offset, offset, length));
  if (copied) return Status::Ok();
  std::vector<uint8_t> buf(length);  // only where the two share a file: not a migration's case
  VSL_RETURN_IF_ERROR(Read(offset, buf));
  return t.dst().Write(offset, buf, false);
}

std::vector<std::pair<uint64_t, uint64_t>> MetaVolume::TakeMirrorConflicts() {
  std::shared_ptr<Mirror> m;
  {
    std::lock_guard<std::mutex> l(mu_);
    m = mirror_;
  }
  if (!m) return {};
  std::lock_guard<std::mutex> l(m->mu);  // End marks under it: nothing is marked between the two
  auto ranges = m->conflicts.Ranges();
  m->conflicts.Clear();
  return ranges;
}

Status MetaVolume::MirrorStatus() const {
  std::shared_ptr<Mirror> m;
  {
    std::lock_guard<std::mutex> l(mu_);
    m = mirror_;
  }
  if (!m) return Status::Ok();
  std::lock_guard<std::mutex> l(m->mu);
  return m->error;
}

void MetaVolume::StopMirror() {
  std::shared_ptr<Mirror> m;
  {
    std::lock_guard<std::mutex> l(mu_);
    m = std::move(mirror_);
    has_mirror_.store(false, std::memory_order_release);
  }
  if (!m) return;
  std::unique_lock<std::mutex> l(m->mu);
  m->stopped = true;
  m->idle.wait(l, [&] { return m->ops.empty(); });
}

// ---- Point in time ---------------------------------------------------------

void MetaVolume::BeforeWrite(uint64_t offset, uint64_t length) {
  changes_.Mark(offset, length);
  if (!has_cow_.load(std::memory_order_acquire)) return;
  std::shared_ptr<CowState> cow;
  {
    std::lock_guard<std::mutex> l(mu_);
    cow = cow_;
  }
  if (cow) cow->BeforeWrite(offset, length, [this](uint64_t off, std::span<uint8_t> out) { return Read(off, out); });
}

void MetaVolume::DetachPointInTime(const std::shared_ptr<CowState>& cow) {
  std::lock_guard<std::mutex> l(mu_);
  if (cow_ != cow) return;
  cow_.reset();
  has_cow_.store(false, std::memory_order_release);
}

Result<std::unique_ptr<PointInTime>> OpenPointInTime(const std::shared_ptr<MetaVolume>& volume,
                                                     const std::string& side_dir) {
  int fd = open(side_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("point-in-time side file in " + side_dir, errno);
  auto cow = std::make_shared<CowState>(volume->size(), fd);
  if (volume->has_rbd()) {
    uint64_t at = 0;
    for (const Extent& e : volume->extents()) {
      if (e.rbd) cow->Skip(at, e.length);
      at += e.length;
    }
  }
  {
    std::lock_guard<std::mutex> l(volume->mu_);
    if (volume->cow_) return FailedPrecondition("a point-in-time view of volume " + volume->id() + " is already open");
    volume->cow_ = cow;
    volume->has_cow_.store(true, std::memory_order_release);
  }
  return std::make_unique<PointInTime>(volume, std::move(cow));
}

// ---- RBD snapshots ---------------------------------------------------------

Status MetaVolume::CreateRbdSnapshot(const std::string& snap) {
  auto s = state();
  std::set<const RbdBackend*> done;
  for (const auto& f : s->files) {
    if (!f->rbd || !done.insert(f->rbd.get()).second) continue;
    VSL_RETURN_IF_ERROR(RbdSnapCreate(*f->rbd, snap));
  }
  return Status::Ok();
}

Status MetaVolume::RemoveRbdSnapshot(const std::string& snap) {
  auto s = state();
  std::set<const RbdBackend*> done;
  for (const auto& f : s->files) {
    if (!f->rbd || !done.insert(f->rbd.get()).second) continue;
    VSL_RETURN_IF_ERROR(RbdSnapRemove(*f->rbd, snap));
  }
  return Status::Ok();
}

Result<std::vector<std::string>> MetaVolume::RbdSnapshotNames() const {
  auto s = state();
  std::set<const RbdBackend*> done;
  std::set<std::string> names;
  for (const auto& f : s->files) {
    if (!f->rbd || !done.insert(f->rbd.get()).second) continue;
    VSL_ASSIGN_OR_RETURN(auto n, RbdSnapNames(*f->rbd));
    names.insert(n.begin(), n.end());
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> MetaVolume::RbdChangesSince(const std::string& from_snap) const {
  auto s = state();
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t at = 0;
  const auto& extents = s->map.extents();
  for (size_t i = 0; i < extents.size(); ++i) {
    const Extent& e = extents[i];
    if (s->files[i]->rbd) {
      // Image offsets [e.offset, e.offset+e.length) are volume offsets from `at`.
      VSL_RETURN_IF_ERROR(RbdDiff(*s->files[i]->rbd, from_snap, e.offset, e.length, [&](uint64_t o, uint64_t n) {
        uint64_t a = std::max(o, e.offset), b = std::min(o + n, e.offset + e.length);
        if (a < b) out.emplace_back(at + (a - e.offset), b - a);
      }));
    }
    at += e.length;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace vsl::volume
