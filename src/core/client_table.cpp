// Client table: at-most-once execution per (client id, request no), bounded with LRU
// eviction by commit op. See include/vsr/core/client_table.hpp for the rules and
// tests/unit/core/client_table_test.cpp for what guards them.

#include "vsr/core/client_table.hpp"

#include <limits>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::core {

ClientTable::ClientTable(std::uint32_t capacity) : capacity_(capacity) {
  VSR_ASSERT(capacity >= 1);
}

RequestClass ClientTable::classify(std::string_view client_id, Op session, RequestNo request_no,
                                   std::string_view operation) const {
  const ClientSession* s = find(client_id);
  if (request_no.value == 0) return s == nullptr ? RequestClass::fresh : RequestClass::registered;
  if (s == nullptr || s->session != session) return RequestClass::no_session;
  if (request_no > s->request_no) return RequestClass::fresh;
  if (request_no < s->request_no) return RequestClass::stale;
  return checksum_of(operation) == s->request_checksum ? RequestClass::retry_latest
                                                       : RequestClass::reused;
}

ExecuteOutcome ClientTable::begin_execute(std::string_view client_id, Op session,
                                          RequestNo request_no, std::string_view operation, Op op) {
  ExecuteOutcome outcome;
  auto it = sessions_.find(client_id);
  if (request_no.value == 0) {
    // A registration: executed once per session; a repeated one is a duplicate (and is
    // told the existing session's number).
    if (it != sessions_.end()) {
      outcome.kind = ExecuteOutcome::Kind::duplicate;
      return outcome;
    }
    if (sessions_.size() >= capacity_) {
      // Evict the least recently committed session (ties: smallest client id, by map order).
      auto victim = sessions_.begin();
      for (auto s = sessions_.begin(); s != sessions_.end(); ++s) {
        if (s->second.op < victim->second.op) victim = s;
      }
      outcome.evicted_client = victim->first;
      sessions_.erase(victim);
    }
    sessions_.emplace(std::string(client_id),
                      ClientSession{op, RequestNo{0}, op, checksum_of(""), std::string()});
    outcome.kind = ExecuteOutcome::Kind::registered;
    return outcome;
  }
  if (it == sessions_.end() || it->second.session != session) {
    // Never registered, evicted, or an earlier session of this client id (whose request
    // may be a retry from before the eviction, or a replay): never executed.
    outcome.kind = ExecuteOutcome::Kind::no_session;
    return outcome;
  }
  if (request_no == it->second.request_no &&
      checksum_of(operation) != it->second.request_checksum) {
    outcome.kind = ExecuteOutcome::Kind::reused;
    return outcome;
  }
  if (request_no <= it->second.request_no) {
    outcome.kind = ExecuteOutcome::Kind::duplicate;
    return outcome;
  }
  outcome.kind = ExecuteOutcome::Kind::execute;
  return outcome;
}

void ClientTable::finish_execute(std::string_view client_id, RequestNo request_no,
                                 std::string_view operation, Op op, std::string result) {
  auto it = sessions_.find(client_id);
  VSR_ASSERT_MSG(it != sessions_.end(), "finish_execute without a session");
  VSR_ASSERT_MSG(request_no > it->second.request_no, "request executed twice");
  it->second.request_no = request_no;
  it->second.op = op;
  it->second.request_checksum = checksum_of(operation);
  it->second.result = std::move(result);
}

const ClientSession* ClientTable::find(std::string_view client_id) const {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

void ClientTable::encode(std::string& out) const {
  tnet::Encoder e(out);
  e.begin_list();
  for (const auto& [id, s] : sessions_) {
    e.begin_list();
    e.bytes(id);
    e.integer(static_cast<std::int64_t>(s.session.value));
    e.integer(static_cast<std::int64_t>(s.request_no.value));
    e.integer(static_cast<std::int64_t>(s.op.value));
    e.bytes(s.request_checksum.bytes());
    e.bytes(s.result);
    e.end_list();
  }
  e.end_list();
}

Result<void, std::string> ClientTable::decode(std::string_view bytes) {
  auto value = tnet::decode(bytes);
  if (!value) return fail("client table: " + value.error().message());
  if (!value->is_list()) return fail(std::string("client table: not a list"));
  if (value->size() > capacity_) return fail(std::string("client table: too many sessions"));
  std::map<std::string, ClientSession, std::less<>> sessions;
  for (tnet::Value item : value->items()) {
    if (!item.is_list() || item.size() != 6) return fail(std::string("client table: bad session"));
    tnet::Value f[6];
    std::size_t i = 0;
    for (tnet::Value x : item.items()) f[i++] = x;
    const auto natural = [](const tnet::Value& v) { return v.is_integer() && v.integer() >= 0; };
    ClientSession s;
    if (!f[0].is_bytes() || f[0].bytes().empty() ||
        f[0].bytes().size() > Options::max_client_id_bytes || !natural(f[1]) ||
        f[1].integer() == 0 || !natural(f[2]) || !natural(f[3]) || !f[4].is_bytes() ||
        !Checksum::from_bytes(f[4].bytes(), s.request_checksum) || !f[5].is_bytes()) {
      return fail(std::string("client table: bad session"));
    }
    s.session = Op{static_cast<std::uint64_t>(f[1].integer())};
    s.request_no = RequestNo{static_cast<std::uint64_t>(f[2].integer())};
    s.op = Op{static_cast<std::uint64_t>(f[3].integer())};
    s.result = std::string(f[5].bytes());
    if (!sessions.emplace(std::string(f[0].bytes()), std::move(s)).second) {
      return fail(std::string("client table: duplicate client"));
    }
  }
  sessions_ = std::move(sessions);
  return {};
}

}  // namespace vsr::core
