// GatewayMapTarget: the MapTarget over the real storage gateway, for
// `vsl serve`. Header-only so that vsl_manager itself does not link the
// gateway; whoever includes this links vsl_gateway.
#pragma once

#include "gateway/gateway.h"
#include "manager/map_target.h"

namespace vsl::manager {

class GatewayMapTarget : public MapTarget {
 public:
  // `gateway` must outlive this object.
  explicit GatewayMapTarget(gateway::Gateway* gateway) : gateway_(gateway) {}

  Status SetHost(const MapHost& h) override {
    gateway::HostConfig c;
    c.name = h.name;
    c.initiators = h.initiators;
    if (!h.chap_secret.empty()) c.chap = gateway::Chap{h.chap_user.empty() ? h.name : h.chap_user, h.chap_secret};
    if (!h.mutual_chap_secret.empty()) c.mutual_chap = gateway::Chap{h.mutual_chap_user, h.mutual_chap_secret};
    for (const MapLun& l : h.luns) c.luns.push_back(Convert(l));
    return gateway_->SetHost(c);
  }
  Status Map(const std::string& host, const MapLun& lun) override { return gateway_->MapLun(host, Convert(lun)); }
  Status Unmap(const std::string& host, uint64_t lun) override { return gateway_->UnmapLun(host, lun); }
  Status RemoveHost(const std::string& host) override {
    Status s = gateway_->RemoveHost(host);
    return s.code() == Code::kNotFound ? Status::Ok() : s;
  }
  std::string TargetName(const std::string& host) override { return gateway_->TargetName(host); }
  Status Grow(const std::string& volume_id, const std::vector<volume::Extent>& extents) override {
    return gateway_->GrowVolume(volume_id, extents);
  }
  Status SetCache(const std::string& volume_id, bool reads) override {
    Status s = gateway_->SetVolumeCache(volume_id, reads);
    return s.code() == Code::kNotFound ? Status::Ok() : s;
  }
  Status SetQos(const std::string& volume_id, const QosLimits& qos) override {
    Status s = gateway_->SetVolumeQos(volume_id, qos);
    return s.code() == Code::kNotFound ? Status::Ok() : s;
  }
  Result<BackupInstant> OpenBackupInstant(const std::string& volume_id, const std::string& side_dir,
                                          const std::string& tag, const std::string& rbd_snap) override {
    VSL_ASSIGN_OR_RETURN(auto in, gateway_->OpenBackupInstant(volume_id, side_dir, tag, rbd_snap));
    BackupInstant out;
    out.view = std::move(in.view);
    out.tracked = in.tracked;
    out.since = std::move(in.since);
    out.changed = std::move(in.changed);
    return out;
  }
  bool PreloadChangeMap(const std::string& volume_id, std::string image, std::string since) override {
    gateway_->PreloadChangeMap(volume_id, std::move(image), std::move(since));
    return true;
  }
  Status NotifyMediumChanged(const std::string& volume_id) override {
    return gateway_->NotifyMediumChanged(volume_id);
  }
  std::shared_ptr<volume::MetaVolume> MappedVolume(const std::string& volume_id) override {
    return gateway_->MappedVolume(volume_id);
  }
  Result<MigrateResult> Migrate(const std::string& volume_id, const std::vector<volume::Extent>& to,
                                const MigrateOptions& options) override {
    gateway::Gateway::MigrateOptions o;
    o.bytes_per_second = options.bytes_per_second;
    o.progress = options.progress;
    o.commit = options.commit;
    VSL_ASSIGN_OR_RETURN(auto r, gateway_->MigrateVolume(volume_id, to, o));
    return MigrateResult{r.bytes_copied, r.passes, r.seconds};
  }
  Result<std::shared_ptr<void>> HoldWrites(const std::string& volume_id) override {
    return gateway_->HoldWrites(volume_id);
  }

 private:
  static gateway::LunConfig Convert(const MapLun& l) {
    gateway::LunConfig c;
    c.lun = l.lun;
    c.read_only = l.read_only;
    c.volume_id = l.volume_id;
    c.extents = l.extents;
    c.qos = l.qos;
    c.cache_reads = l.cache_reads;
    return c;
  }
  gateway::Gateway* gateway_;
};

}  // namespace vsl::manager
