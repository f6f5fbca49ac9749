-- A turn row is the one write every command waits for, and each secondary index on `turns` is
-- one more B-tree page dirtied per commit. Two of the three went: a user's turns are reached
-- through their conversations (a user has few; a conversation has many turns), so
-- `turns.user_id` repeated what `conversations.user_id` says and cost an index of its own; and
-- the calculator's previous result is looked up among the open conversation's newest turns
-- (src/store/conversations.rs), which the conversation index already serves.

CREATE INDEX conversations_user ON conversations (user_id, id);

DROP INDEX turns_calculation;
-- Takes its index (turns_user) and its foreign key with it. Deleting a user still deletes
-- their turns: users -> conversations -> turns cascade.
ALTER TABLE turns DROP COLUMN user_id;
