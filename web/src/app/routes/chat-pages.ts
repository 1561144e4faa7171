/** The conversations: one chunk, loaded when the chats are first opened. */
export { ChatsRoute } from '@/app/routes/chats'
