#include <gtest/gtest.h>

#include "scheduler/scheduling_policy.h"

namespace braintune::scheduler {
namespace {

using Kind = Decision::Kind;

int Total(const Decision& d) {
  int n = 0;
  for (const auto& a : d.assignments) n += a.slots;
  return n;
}

TEST(GangPackingPolicyTest, AllRanksOrNone) {
  auto policy = MakeGangPackingPolicy();
  std::vector<NodeCapacity> nodes = {{"a", 4, 1}, {"b", 4, 1}};
  Decision d = policy->Place({"j", 3}, nodes);
  EXPECT_EQ(d.kind, Kind::kWait);
  EXPECT_TRUE(d.assignments.empty()) << "a partial placement must never be returned";
  EXPECT_NE(d.reason.find("needs 3 slots, 2 free"), std::string::npos) << d.reason;
}

TEST(GangPackingPolicyTest, PacksOntoOneNodeWhenItFits) {
  auto policy = MakeGangPackingPolicy();
  std::vector<NodeCapacity> nodes = {{"big", 8, 8}, {"small", 2, 2}};
  Decision d = policy->Place({"j", 2}, nodes);
  ASSERT_EQ(d.kind, Kind::kScheduled);
  ASSERT_EQ(d.assignments.size(), 1u);
  EXPECT_EQ(d.assignments[0].node, "small") << "best fit keeps the big hole for big jobs";
  EXPECT_EQ(d.assignments[0].slots, 2);
}

TEST(GangPackingPolicyTest, SpansNodesMostFreeFirst) {
  auto policy = MakeGangPackingPolicy();
  std::vector<NodeCapacity> nodes = {{"a", 4, 2}, {"b", 4, 3}, {"c", 4, 1}};
  Decision d = policy->Place({"j", 5}, nodes);
  ASSERT_EQ(d.kind, Kind::kScheduled);
  EXPECT_EQ(Total(d), 5);
  ASSERT_EQ(d.assignments.size(), 2u);
  EXPECT_EQ(d.assignments[0].node, "b");
  EXPECT_EQ(d.assignments[1].node, "a");
}

TEST(GangPackingPolicyTest, TooBigForThePoolIsInfeasible) {
  auto policy = MakeGangPackingPolicy();
  Decision d = policy->Place({"j", 9}, {{"a", 4, 4}, {"b", 4, 4}});
  EXPECT_EQ(d.kind, Kind::kInfeasible);
  EXPECT_NE(d.reason.find("pool has 8"), std::string::npos) << d.reason;
}

TEST(GangPackingPolicyTest, NoNodesMeansWait) {
  Decision d = MakeGangPackingPolicy()->Place({"j", 1}, {});
  EXPECT_EQ(d.kind, Kind::kWait);
  EXPECT_NE(d.reason.find("no worker nodes"), std::string::npos);
}

}  // namespace
}  // namespace braintune::scheduler
