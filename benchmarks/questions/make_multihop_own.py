"""The project's own question set over MultiHop-RAG articles (issue 15): written by hand by the team
after reading the start of 16 corpus articles; 80 answerable, each answer checked to appear in its
article, and 20 unanswerable ones that name people, places or things of those articles.

    python benchmarks/questions/make_multihop_own.py   # rewrites multihop-own.jsonl beside it

Only questions, answer strings and article titles are stored; the articles stay in ../shared.
An unanswerable question is checked against every record: none may hold all of its topic words
(whole words); the four that some record does hold (REVIEWED) were read in context by hand and
kept: the words occur there about something else.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from rag.text import fold  # noqa: E402

c = json.load(open(ROOT.parent / "shared" / "eval" / "multihop_rag" / "corpus.json", encoding="utf-8"))
REVIEWED = {"Where was Changpeng Zhao born?", "What is Sarah Michelle Gellar's daughter's favourite game?",
            "Who founded Remedy Entertainment?", "What was the budget of Disney Illusion Island?"}
T = {i: c[i]["title"] for i in range(len(c))}
A = [  # (article index, question, answer, kind)
 (213, "Which studio released a role-playing game in which you can kill off nearly every main character?", "Larian Studios", "which"),
 (213, "What does Dredge begin as?", "a lonely fishing sim", "what"),
 (213, "What is Dave the Diver really about, according to Polygon?", "running a sushi restaurant", "what"),
 (213, "Which developer made a sequel that is equal parts horrifying, hilarious, fun and fabulous?", "Remedy Entertainment", "which"),
 (213, "Which earlier Larian game gave the studio its reputation?", "Divinity: Original Sin 2", "which"),
 (11, "Who is among the backers of an AI startup founded by two teenagers?", "Sam Altman", "who"),
 (11, "What is the name of the AI startup founded by two teenagers that Sam Altman backs?", "Induced AI", "what"),
 (11, "What kind of subscription plan is TikTok testing?", "ad-free", "what"),
 (11, "Which email service brought in harsher rules to prevent spam?", "Gmail", "which"),
 (11, "Who wrote TechCrunch's roundup of Google's hardware event news?", "Christine", "who"),
 (11, "Which company's Pixel 8 Pro did TechCrunch get its hands on?", "Google", "which"),
 (533, "Who is the game director of Diablo 4?", "Joe Shely", "who"),
 (533, "Who is Diablo 4's associate game director?", "Joe Piepiora", "who"),
 (533, "How much faster will players reach the level cap in Diablo 4's second season?", "40%", "how much"),
 (533, "What is the level cap in Diablo 4?", "100", "what"),
 (533, "What is Diablo 4's second season called?", "Season of Blood", "what"),
 (533, "Between which levels will Diablo 4 monsters now match their levels?", "55 and 75", "which"),
 (533, "How many new endgame bosses does Diablo 4's second season add?", "five", "how many"),
 (37, "Who caught the go-ahead touchdown for the Broncos against the Vikings?", "Courtland Sutton", "who"),
 (37, "Who was the Vikings' quarterback against the Broncos on Sunday Night Football?", "Joshua Dobbs", "who"),
 (37, "How many games long is Denver's win streak after beating the Vikings?", "four", "how many"),
 (37, "Who led the Broncos' game-winning drive against the Vikings?", "Russell Wilson", "who"),
 (37, "Which team won the Sunday Night Football game, the Vikings or the Broncos?", "Broncos", "which of two"),
 (161, "What does TechCrunch+ say large language model technology is hardly, despite advancing quickly?", "cheap to run", "what"),
 (370, "Which team beat Manchester United 1-0 at Old Trafford in the Champions League?", "Bayern Munich", "which"),
 (370, "What did the Bayern Munich fans chant at the departing home supporters?", "Auf Wiedersehen", "what"),
 (370, "What song did the Bayern Munich fans sing at Old Trafford?", "Football's Coming Home", "what"),
 (370, "How many academy players did Manchester United have on the pitch by the end against Bayern?", "five", "how many"),
 (480, "How many seasons has Shohei Ohtani played in MLB, all of them with the Angels?", "six", "how many"),
 (480, "Which ESPN reporter warned that publicly reported visits with Ohtani would be held against a team?", "Jeff Passan", "who warned"),
 (492, "Who is the chief executive of the Queensland Rugby Union?", "David Hanham", "who"),
 (492, "Who is the chairman of the Queensland Rugby Union?", "Brett Clark", "who"),
 (492, "How much annual funding does the QRU want Rugby Australia to reinstate to each Super Rugby franchise?", "$1.7 million", "how much"),
 (492, "Which union was in the latter stages of handing its licence to Rugby Australia?", "New South Wales Rugby Union", "which"),
 (492, "Who called for a fully independent review of the Wallabies program?", "Queensland Rugby Union", "who said"),
 (426, "How much is Shohei Ohtani's contract with the Dodgers worth?", "$700 million", "how much"),
 (426, "How many years is Shohei Ohtani's contract with the Dodgers?", "10-year", "how many"),
 (426, "When are the MLB winter meetings scheduled to take place?", "Dec. 3 through Dec. 6", "when"),
 (426, "On which day did Shohei Ohtani announce that he had agreed to a contract with the Dodgers?", "Saturday", "when"),
 (426, "Which teams are among the top ones expected to try to sign Ohtani?", "Dodgers and Cubs", "which"),
 (232, "Who scored twice for Jamaica in the second leg against Canada?", "Shamar Nicholson", "who"),
 (232, "Who opened the scoring for Canada against Jamaica?", "Alphonso Davies", "who"),
 (232, "What was the aggregate score between Canada and Jamaica across the two legs?", "4-4", "what"),
 (232, "Who must Canada beat in a playoff to reach Copa America 2024?", "Trinidad and Tobago", "who"),
 (232, "Who converted the penalty that sealed Jamaica's progression?", "Bobby De Cordova-Reid", "who"),
 (232, "Where was the second leg between Canada and Jamaica played?", "BMO Field", "where"),
 (232, "Who refereed Canada vs Jamaica?", "Cesar Ramos", "who"),
 (232, "Which tournament did Jamaica qualify for by knocking out Canada?", "Copa America 2024", "which"),
 (534, "Who scored Argentina's goal against Paraguay?", "Nicolas Otamendi", "who"),
 (534, "What was the score of Argentina's win over Paraguay?", "1-0", "what"),
 (534, "How many minutes has Emiliano Martinez gone without conceding for Argentina?", "609 minutes", "how many"),
 (534, "Where did Argentina play Paraguay in World Cup qualifying?", "Buenos Aires", "where"),
 (534, "Whose equalizer in the 2022 World Cup final was the last goal Argentina conceded?", "Kylian Mbappe", "who"),
 (534, "Who hit the post twice for Argentina against Paraguay?", "Lionel Messi", "who"),
 (534, "Which of the two scored against Paraguay, Lautaro Martinez or Nicolas Otamendi?", "Nicolas Otamendi", "which of two"),
 (424, "How much does Poetry for Neanderthals cost?", "$19.99", "how much"),
 (424, "How many players can play Poetry for Neanderthals?", "six", "how many"),
 (424, "How much does Disney Illusion Island for the Nintendo Switch cost?", "$39.88", "how much"),
 (424, "How many pieces are in the Magna-Tiles Jungle Animals set?", "25", "how many"),
 (310, "What is Jennifer Aniston's top tip for battling insomnia?", "sleep with my phone at least five feet away from me", "what did X say"),
 (310, "What does Martha Stewart recommend for falling asleep?", "focusing on your breathing", "what did X say"),
 (310, "Who wrote the 1973 novel Fear of Flying?", "Erica Jong", "who"),
 (374, "Who will be Binance's new CEO after Changpeng Zhao steps down?", "Richard Teng", "who"),
 (374, "How much will Binance pay to resolve the Justice Department's investigations?", "$4.3 billion", "how much"),
 (374, "In which city's federal court did Changpeng Zhao enter his plea?", "Seattle", "where"),
 (374, "What did Changpeng Zhao say about stepping down?", "it is the right thing to do", "what did X say"),
 (374, "Which regulator was Richard Teng previously the CEO of?", "Financial Services Regulatory Authority", "which"),
 (374, "What did Zhao say he must do after making mistakes?", "take responsibility", "what did X say"),
 (296, "Which Red Wings player is a game-time decision against the Rangers?", "Dylan Larkin", "which"),
 (296, "How much can SuperDraft users win if their two-legged player prop parlay hits?", "3X", "how much"),
 (296, "Where do the Rangers and Red Wings face off?", "Madison Square Garden", "where"),
 (178, "How old is Sarah Michelle Gellar?", "46", "how many"),
 (178, "When did Sarah Michelle Gellar post on Instagram about the Roblox hack?", "4 December", "when"),
 (178, "What is the name of Sarah Michelle Gellar's son?", "Rocky", "what"),
 (178, "Who is Sarah Michelle Gellar's husband?", "Freddie Prinze Jr", "who"),
 (178, "Who criticised Roblox after her son's account was hacked?", "Sarah Michelle Gellar", "who criticised"),
 (178, "What did Sarah Michelle Gellar have to cancel after her son's Roblox account was hacked?", "credit card", "what"),
 (161, "What does TechCrunch+ say current AI tech will be able to do, in its hyperbolic form?", "revolutionize every industry", "what"),
 (11, "What is TechCrunch's weekly tech news digest called?", "Week in Review", "what"),
 (37, "Where did the Broncos complete their comeback against the Vikings?", "Mile High City", "where"),
]
U = [  # (question, topic words that must not all co-occur in any record)
 ("How much is Courtland Sutton's contract with the Broncos worth?", ["sutton", "contract"]),
 ("Where was Changpeng Zhao born?", ["zhao", "born"]),
 ("How old is Richard Teng?", ["teng", "aged"]),
 ("What is Joe Shely's favourite class in Diablo 4?", ["shely", "favourite"]),
 ("What is Sarah Michelle Gellar's daughter's favourite game?", ["charlotte", "favourite"]),
 ("When did Erica Jong publish her second novel?", ["jong", "second novel"]),
 ("What is the seating capacity of BMO Field?", ["bmo field", "capacity"]),
 ("Who designed the game Poetry for Neanderthals?", ["neanderthals", "designed"]),
 ("What is the population of Buenos Aires?", ["buenos aires", "population"]),
 ("Where will the Wallabies play their next test match?", ["wallabies", "next test"]),
 ("What is the name of Changpeng Zhao's wife?", ["zhao", "wife"]),
 ("How much did Induced AI charge its first customers?", ["induced ai", "customers"]),
 ("Which university did Joshua Dobbs study engineering at?", ["dobbs", "engineering"]),
 ("How many tickets were sold for Manchester United vs Bayern Munich at Old Trafford?", ["old trafford", "tickets sold"]),
 ("What is Dylan Larkin's salary with the Red Wings?", ["larkin", "salary"]),
 ("Who is the chief financial officer of Roblox?", ["roblox", "chief financial officer"]),
 ("How many employees does Larian Studios have?", ["larian", "employees"]),
 ("Who founded Remedy Entertainment?", ["remedy", "founded"]),
 ("What was the budget of Disney Illusion Island?", ["illusion island", "budget"]),
 ("When was the Queensland Rugby Union founded?", ["queensland rugby", "founded"]),
]
bad = 0
out = []
for n, (i, q, a, kind) in enumerate(A):
    body = fold(c[i]["title"] + " " + c[i]["body"])
    if f" {fold(a)} " not in f" {body} ":
        print("ANSWER NOT IN ARTICLE:", i, q, a); bad += 1
    out.append({"id": f"own-{n:03d}", "question": q, "answers": [a], "doc_ids": [T[i]], "unanswerable": False, "qtype": kind})
for n, (q, words) in enumerate(U):
    hits = [d["title"] for d in c if all(re.search(rf"\b{re.escape(w)}\b", d["body"].lower()) for w in words)]
    if hits and q not in REVIEWED:
        print("UNANSWERABLE MAY BE ANSWERED:", q, hits[:3]); bad += 1
    out.append({"id": f"own-u{n:02d}", "question": q, "answers": [], "doc_ids": [], "unanswerable": True, "qtype": "unanswerable"})
# interleave so both halves get both kinds: answerable and unanswerable spread over the file
ans = [o for o in out if not o["unanswerable"]]; un = [o for o in out if o["unanswerable"]]
mixed = []
step = len(ans) // len(un)
for k, o in enumerate(ans):
    mixed.append(o)
    if k % step == step - 1 and un:
        mixed.append(un.pop(0))
mixed += un
print(len(ans), "answerable over", len({a[0] for a in A}), "articles;", len([o for o in mixed if o["unanswerable"]]), "unanswerable; bad", bad)
open(Path(__file__).with_name("multihop-own.jsonl"), "w", encoding="utf-8").write("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in mixed))
