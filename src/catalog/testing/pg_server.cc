#include "catalog/testing/pg_server.h"

#include <libpq-fe.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace vsl::catalog::testing {
namespace {

constexpr const char* kBinDirs[] = {"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
                                    "/usr/lib/postgresql/15/bin"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<std::unique_ptr<PgServer>> PgServer::Start() {
  std::unique_ptr<PgServer> s(new PgServer());
  for (const char* d : kBinDirs) {
    if (std::filesystem::exists(std::string(d) + "/pg_ctl")) {
      s->bin_ = d;
      break;
    }
  }
  if (s->bin_.empty()) return FailedPrecondition("PostgreSQL server binaries (initdb, pg_ctl) are not installed");
  char tmpl[] = "/tmp/vsl-pg.XXXXXX";
  if (!mkdtemp(tmpl)) return ErrnoError("mkdtemp for the test PostgreSQL server", errno);
  s->dir_ = tmpl;
  s->as_postgres_ = geteuid() == 0;
  if (s->as_postgres_) {
    // initdb refuses to run as root: the server runs as `postgres`.
    struct passwd* pw = getpwnam("postgres");
    if (!pw) return FailedPrecondition("running as root but there is no 'postgres' user to run PostgreSQL as");
    if (chown(s->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return ErrnoError("chown " + s->dir_, errno);
  }
  VSL_ASSIGN_OR_RETURN(std::string tmpl_data, s->Template());
  VSL_RETURN_IF_ERROR(s->Run("cp -a " + tmpl_data + " " + s->dir_ + "/data", /*as_postgres=*/false));
  // No TCP at all; fsync off: the server dies with the test.
  Status st = s->Run(s->bin_ + "/pg_ctl -D " + s->dir_ + "/data -w -t 60 -l " + s->dir_ +
                     "/server.log -o \"-k " + s->dir_ + " -c listen_addresses='' -F -c max_connections=200\" start");
  if (!st.ok()) {
    return Unavailable("test PostgreSQL server did not start: " + st.message() + "; log: " +
                       ReadFile(s->dir_ + "/server.log"));
  }
  s->started_ = true;
  return s;
}

PgServer::~PgServer() {
  if (started_) (void)Run(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop");
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Result<std::string> PgServer::Template() {
  // initdb is slow (seconds on a busy machine): it runs once per machine and
  // PostgreSQL version, and every server starts from a copy.
  std::string version = std::filesystem::path(bin_).parent_path().filename().string();
  // Beside the test binary, so that it goes with the build directory.
  std::error_code exe_ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", exe_ec);
  std::string dir = exe_ec ? std::string("/tmp") : exe.parent_path().string();
  std::string base = dir + "/.pg-template-" + version + "-" + std::to_string(geteuid());
  std::string data = base + "/data";
  int lock = open((base + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0) return ErrnoError("open " + base + ".lock", errno);
  flock(lock, LOCK_EX);
  Status st;
  if (!std::filesystem::exists(base + "/complete")) {
    std::error_code ec;
    std::filesystem::remove_all(base, ec);
    std::filesystem::create_directories(base, ec);
    if (as_postgres_) {
      struct passwd* pw = getpwnam("postgres");
      if (!pw || chown(base.c_str(), pw->pw_uid, pw->pw_gid) != 0) st = ErrnoError("chown " + base, errno);
    }
    if (st.ok()) st = Run(bin_ + "/initdb -D " + data + " -A trust -U postgres --no-sync -E UTF8");
    if (st.ok()) std::ofstream(base + "/complete") << "ok\n";
  }
  flock(lock, LOCK_UN);
  close(lock);
  if (!st.ok()) return st;
  return data;
}

Status PgServer::Run(const std::string& command) { return Run(command, as_postgres_); }

Status PgServer::Run(const std::string& command, bool as_postgres) {
  std::string cmd = (as_postgres ? "runuser -u postgres -- " : "") + command + " >>" + dir_ + "/setup.log 2>&1";
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    return Unavailable("'" + command + "' exited with status " + std::to_string(rc) + ": " +
                       ReadFile(dir_ + "/setup.log"));
  }
  return Status::Ok();
}

std::string PgServer::Url(const std::string& db) const {
  return "postgresql:///" + db + "?host=" + dir_ + "&user=postgres";
}

Result<std::string> PgServer::CreateDatabase(const std::string& name) {
  PGconn* c = PQconnectdb(url().c_str());
  std::unique_ptr<PGconn, void (*)(PGconn*)> guard(c, PQfinish);
  if (PQstatus(c) != CONNECTION_OK) return Unavailable("cannot reach the test PostgreSQL server: " +
                                                       std::string(PQerrorMessage(c)));
  std::string sql = "CREATE DATABASE \"" + name + "\"";
  PGresult* r = PQexec(c, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) return Internal("CREATE DATABASE " + name + ": " + err);
  return Url(name);
}

Result<PgServer*> SharedPgServer() {
  static std::mutex mu;
  static std::unique_ptr<PgServer> server;
  static Status failed;
  std::lock_guard<std::mutex> l(mu);
  if (server) return server.get();
  if (!failed.ok()) return failed;
  auto s = PgServer::Start();
  if (!s.ok()) {
    failed = s.status();
    return failed;
  }
  server = std::move(s).value();
  // Stopped by the static's destructor at exit.
  return server.get();
}

}  // namespace vsl::catalog::testing
