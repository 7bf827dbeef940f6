#include "framework/config.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

std::vector<ConfigKey> schema() {
  return {
      {"max_retries", ConfigType::integer, 3, "attempts after the first", 0, 100},
      {"flush_interval", ConfigType::duration, "5s", "flush a partial batch after this"},
      {"batch_bytes_max", ConfigType::size, "4MB", "bytes per request"},
      {"api_key", ConfigType::secret, nullptr, "the API key"},
      {"send_individual", ConfigType::boolean, true, ""},
      {"invalid", ConfigType::ratio, "0", ""},
  };
}

TEST(Config, LayersDestinationOverRouterOverDefault) {
  nlohmann::json doc = {
      {"Router.max_retries", 7},
      {"Router.ITERABLE.flush_interval", "250ms"},
      {"Router", {{"batch_bytes_max", "1MB"}, {"MARKETO", {{"max_retries", 1}}}}},
      {"api_key", {{"secret", "k"}}},
  };
  auto cfg = Config::resolve(doc, "iterable", schema());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->integer("max_retries"), 7);
  EXPECT_EQ(cfg->source("max_retries"), "Router.max_retries");
  EXPECT_EQ(cfg->duration("flush_interval"), std::chrono::milliseconds(250));
  EXPECT_EQ(cfg->source("flush_interval"), "Router.ITERABLE.flush_interval");
  EXPECT_EQ(cfg->size("batch_bytes_max"), 1'000'000);
  EXPECT_TRUE(cfg->boolean("send_individual"));
  EXPECT_EQ(cfg->source("send_individual"), "default");
  EXPECT_EQ(cfg->secret("api_key").value, "k");
}

TEST(Config, DestinationLayerWinsOverRouterLayer) {
  nlohmann::json doc = {{"Router.max_retries", 7}, {"Router.ITERABLE.max_retries", 9}, {"api_key", "k"}};
  auto cfg = Config::resolve(doc, "iterable", schema());
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->integer("max_retries"), 9);
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  auto cfg = Config::resolve({{"api_key", "k"}, {"max_retrys", 2}}, "iterable", schema(), "x.json: /destination/config");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("x.json: /destination/config/max_retrys: unknown key \"max_retrys\""),
            std::string::npos)
      << cfg.error().message;
}

TEST(Config, WrongTypeIsAnErrorNamingKeyAndType) {
  auto cfg = Config::resolve({{"api_key", "k"}, {"flush_interval", 5}}, "iterable", schema());
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("/flush_interval: expected a duration"), std::string::npos)
      << cfg.error().message;
  auto range = Config::resolve({{"api_key", "k"}, {"max_retries", 1000}}, "iterable", schema());
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.error().message.find("[0, 100]"), std::string::npos) << range.error().message;
}

TEST(Config, MissingRequiredKeyIsAnError) {
  auto cfg = Config::resolve(nlohmann::json::object(), "iterable", schema());
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("api_key"), std::string::npos);
}

TEST(Config, SecretsNeverPrinted) {
  auto cfg = Config::resolve({{"api_key", {{"secret", "sk-123"}}}}, "iterable", schema());
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->describe().dump().find("sk-123"), std::string::npos);
  EXPECT_EQ(cfg->to_document().dump().find("sk-123"), std::string::npos);
  EXPECT_NE(cfg->to_document(true).dump().find("sk-123"), std::string::npos);
  EXPECT_EQ(cfg->secret_values(), std::vector<std::string>{"sk-123"});
}

TEST(Config, GivenTwiceIsAnError) {
  auto cfg = Config::resolve({{"api_key", "k"}, {"max_retries", 1}, {"Router.ITERABLE.max_retries", 2}}, "iterable",
                             schema());
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("twice"), std::string::npos);
}

}  // namespace
}  // namespace destsim
