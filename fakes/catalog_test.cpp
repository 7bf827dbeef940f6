// catalog_test.cpp — fake entries: add_fake, doors, fault kinds, and each
// fake's own fault-plan validator (Fake::check_fault_plan).
#include "fakes/catalog.h"

#include <gtest/gtest.h>

#include <set>

#include "fakes/scripted/scripted_api.h"

namespace destsim {
namespace {

FakeEntry test_entry(std::string name) {
  FakeEntry e;
  e.name = std::move(name);
  e.about = "a test double";
  e.make = [](const nlohmann::json&, const std::string&) -> Result<std::unique_ptr<Fake>> {
    return std::unique_ptr<Fake>(std::make_unique<ScriptedApi>());
  };
  return e;
}

TEST(AddFake, AddsANewFakeFoundByNameAfterTheCatalog) {
  ASSERT_TRUE(add_fake(test_entry("catalog_test_fake")).ok());
  const FakeEntry* e = find_fake("catalog_test_fake");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->door, FakeDoor::http);
  EXPECT_EQ(e->fault_kinds, all_fault_kinds());  // an HTTP fake takes every kind by default
  auto all = all_fakes();
  ASSERT_GE(all.size(), fake_catalog().size() + 1);
  EXPECT_EQ(all[0], &fake_catalog()[0]);
  EXPECT_EQ(all.back()->name, "catalog_test_fake");
  EXPECT_NE(fake_names().find("catalog_test_fake"), std::string::npos);
  auto made = e->make(nlohmann::json(), "t");
  ASSERT_TRUE(made.ok());
  EXPECT_NE((*made)->http(), nullptr);
}

TEST(AddFake, NameMustBeNew) {
  auto builtin = add_fake(test_entry("iterable"));
  ASSERT_FALSE(builtin.ok());
  EXPECT_NE(builtin.error().message.find("\"iterable\" is already registered"), std::string::npos);
  ASSERT_TRUE(add_fake(test_entry("catalog_test_twice")).ok());
  EXPECT_FALSE(add_fake(test_entry("catalog_test_twice")).ok());
}

TEST(AddFake, RequiresNameMakeAndFaultKinds) {
  EXPECT_NE(add_fake(test_entry("")).error().message.find("needs a name"), std::string::npos);
  FakeEntry no_make = test_entry("catalog_test_no_make");
  no_make.make = nullptr;
  EXPECT_NE(add_fake(no_make).error().message.find("make is required"), std::string::npos);
  FakeEntry no_kinds = test_entry("catalog_test_no_kinds");
  no_kinds.fault_kinds.clear();
  EXPECT_NE(add_fake(no_kinds).error().message.find("fault_kinds"), std::string::npos);
  EXPECT_EQ(find_fake("catalog_test_no_make"), nullptr);
  EXPECT_EQ(find_fake("catalog_test_no_kinds"), nullptr);
}

TEST(FakeCatalog, EveryEntrysDoorMatchesWhatItMakes) {
  for (const FakeEntry* e : all_fakes()) {
    auto made = e->make(nlohmann::json(), "t");
    ASSERT_TRUE(made.ok()) << e->name << ": " << made.error().message;
    if (e->door == FakeDoor::http) {
      EXPECT_NE((*made)->http(), nullptr) << e->name;
      EXPECT_EQ((*made)->file(), nullptr) << e->name;
    } else {
      EXPECT_NE((*made)->file(), nullptr) << e->name;
      EXPECT_EQ((*made)->http(), nullptr) << e->name;
    }
    EXPECT_FALSE(e->fault_kinds.empty()) << e->name;
  }
  ASSERT_NE(find_fake("sftp"), nullptr);
  EXPECT_EQ(find_fake("sftp")->door, FakeDoor::file);
  for (FaultKind k : find_fake("sftp")->fault_kinds) EXPECT_NE(k, FaultKind::rate_limit);
}

// Every hostile variant of a fake, of its own list or an operator act's
// companions, has a label of its own and options the fake takes; certify finds
// its options by that label.
TEST(FakeCatalog, HostileVariantsAndCompanionsAreTakenByTheirFake) {
  int companions = 0;
  for (const FakeEntry* e : all_fakes()) {
    std::set<std::string> labels;
    auto check = [&](const FakeEntry::HostileOptions& h) {
      EXPECT_TRUE(labels.insert(h.label).second) << e->name << ": \"" << h.label << "\" twice";
      auto made = e->make(h.options, "t");
      EXPECT_TRUE(made.ok()) << e->name << " " << h.label << ": " << made.error().message;
      const nlohmann::json* found = e->hostile_options(h.label);
      ASSERT_NE(found, nullptr) << h.label;
      EXPECT_EQ(*found, h.options);
    };
    for (const auto& h : e->hostile) check(h);
    for (const auto& a : e->operator_acts)
      for (const auto& h : a.companions) {
        check(h);
        ++companions;
      }
    EXPECT_EQ(e->hostile_options("no such variant"), nullptr);
  }
  // Snowpipe's "tables replaced" pairs with channels that die soon after.
  EXPECT_GE(companions, 2);
  const FakeEntry* snowpipe = find_fake("snowpipe");
  ASSERT_NE(snowpipe, nullptr);
  ASSERT_NE(snowpipe->hostile_options("sidecar restarts often"), nullptr);
  EXPECT_EQ(snowpipe->hostile_options("sidecar restarts often")->value("restart_every", 0), 2);
}

std::unique_ptr<Fake> make(const char* name) {
  const FakeEntry* e = find_fake(name);
  EXPECT_NE(e, nullptr) << name;
  return std::move(e->make(nlohmann::json(), "t")).value();
}

FaultPlan plan(const char* text) { return FaultPlan::from_json(nlohmann::json::parse(text), "t").value(); }

TEST(FaultPlanValidator, HttpFakeRefusesAnSftpStatusNamingTheJsonPath) {
  const FaultPlan sftp_status = plan(R"([{"latency": {"min": "1ms", "max": "2ms"}}, {"respond": {"status": 3}}])");
  for (const char* name : {"scripted", "iterable", "klaviyo", "async_job", "marketo", "warehouse"}) {
    auto fake = make(name);
    Status st = fake->check_fault_plan(sftp_status, "x.json: /faults");
    ASSERT_FALSE(st.ok()) << name;
    EXPECT_EQ(st.error().code, ErrorCode::bad_input);
    EXPECT_NE(st.error().message.find("x.json: /faults/1/respond/status: 3 is an SFTP status"), std::string::npos)
        << st.error().message;
    // Every kind in its HTTP form is fine.
    EXPECT_TRUE(fake->check_fault_plan(plan(R"([{"respond": {"status": 503}}, {"rate_limit": {"retry_after": "1s"}},
        {"garble": true}, {"reset": "after"}])"), "x.json: /faults").ok()) << name;
  }
}

TEST(FaultPlanValidator, SftpFakeRefusesAnHttpOnlyKindNamingTheJsonPath) {
  auto fake = make("sftp");
  Status st = fake->check_fault_plan(plan(R"([{"reset": "before"}, {"rate_limit": {"retry_after": "1s"}}])"),
                                     "x.json: /faults");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("x.json: /faults/1/rate_limit: rate_limit has no meaning for SFTP"),
            std::string::npos)
      << st.error().message;
  Status method = fake->check_fault_plan(plan(R"([{"match": {"method": "POST"}, "reset": "before"}])"), "p.json: ");
  ASSERT_FALSE(method.ok());
  EXPECT_NE(method.error().message.find("p.json: /0/match/method: expected an SFTP operation"), std::string::npos)
      << method.error().message;
  // SFTP statuses and the generic kinds are fine.
  EXPECT_TRUE(fake->check_fault_plan(plan(R"([{"match": {"method": "put"}, "respond": {"status": 14}},
      {"outage": {}}, {"timeout": "after"}])"), "x.json: /faults").ok());
}

}  // namespace
}  // namespace destsim
